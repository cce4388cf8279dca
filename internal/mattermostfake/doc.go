// Package mattermostfake is a contract-faithful fake Mattermost server for
// tests. It follows shared/mattermost/CONTRACT.md (beside the repository)
// and validates every request and response on the documented paths against
// the official OpenAPI subset, a copy of which is embedded in this package.
//
// What it serves (section numbers refer to CONTRACT.md):
//
//   - GET  /api/v4/users/{user_id} (and /users/me)      section 8
//   - GET  /api/v4/channels/{channel_id}                section 8
//   - POST /api/v4/posts                                section 1, 5, 11
//   - POST /api/v4/files                                section 2
//   - GET  /api/v4/system/ping                          section 8
//   - POST /hooks/{key}                                 section 3
//
// For every accepted post it records which mentions a real server would
// fire (section 7; see DetectMentions), so security tests can assert that
// untrusted text never pings a channel.
//
// Failure injection (FailNext, Hang, Down/Up) and the stores (Requests,
// Posts, Files, Violations) make client retry, timeout and idempotency
// behaviour testable without sleeps.
package mattermostfake
