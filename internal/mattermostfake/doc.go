// Package mattermostfake is a contract-faithful fake Mattermost server for
// tests. It follows the API facts in exporter/mattermostexporter/PROTOCOL.md
// and validates every request and response on the documented paths against
// an excerpt of the official OpenAPI spec embedded in this package.
//
// What it serves (section numbers refer to PROTOCOL.md):
//
//   - GET  /api/v4/users/{user_id} (and /users/me)      section 3
//   - GET  /api/v4/channels/{channel_id}                section 3
//   - POST /api/v4/posts                                sections 4, 5, 8
//   - POST /api/v4/files                                section 6
//   - GET  /api/v4/system/ping                          section 3
//   - POST /hooks/{key}                                 section 7
//
// For every accepted post it records which mentions a real server would
// fire (section 10; see DetectMentions), so security tests can assert that
// untrusted text never pings a channel.
//
// Failure injection (FailNext, Hang, Down/Up) and the stores (Requests,
// Posts, Files, Violations) make client retry, timeout and idempotency
// behaviour testable without sleeps.
package mattermostfake
