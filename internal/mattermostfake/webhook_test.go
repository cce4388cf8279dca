package mattermostfake

import (
	"net/url"
	"strings"
	"testing"
)

func TestWebhook(t *testing.T) {
	s := newFake(t, WithWebhook(Webhook{Key: "locked", ChannelID: chanID, Locked: true}))
	hook := s.URL() + "/hooks/hookkey"
	ok := func(r resp) {
		t.Helper()
		if r.status != 200 || string(r.body) != "ok" || r.header.Get("Content-Type") != "text/plain" {
			t.Fatalf("want 200 text/plain ok, got %d %q %q", r.status, r.header.Get("Content-Type"), r)
		}
	}
	ok(do(t, "POST", hook, "", "application/json", mustJSON(map[string]any{"text": "hello <!channel>"})))
	ok(do(t, "POST", hook, "", "", mustJSON(map[string]any{"text": "no content type is JSON"})))
	ok(do(t, "POST", hook, "", "application/x-www-form-urlencoded",
		[]byte("payload="+url.QueryEscape(`{"text":"form `+"`<!here>`"+`"}`))))
	ok(do(t, "POST", hook, "", "application/json", []byte("{\"text\":\"raw\nnewline\"}")))
	ok(do(t, "POST", hook, "", "application/json", mustJSON(map[string]any{"channel": "#other", "attachments": []any{map[string]any{"pretext": "<!all>", "title": "t"}}})))
	ok(do(t, "POST", hook, "", "application/json", mustJSON(map[string]any{"text": strings.Repeat("a", DefaultMaxPostSize+10)})))

	posts := s.Posts(chanID)
	if len(posts) != 6 {
		t.Fatalf("%d posts, want 6 (the long text split in two)", len(posts))
	}
	if !posts[0].Mentions.Channel || posts[0].Message != "hello @channel" {
		t.Fatalf("<!channel> must become a real @channel (section 7): %+v %q", posts[0].Mentions, posts[0].Message)
	}
	if posts[2].Mentions.Any() {
		t.Fatalf("translated inside a code span stays inert: %+v", posts[2].Mentions)
	}
	if posts[3].Message != "raw\nnewline" || posts[0].Props["from_webhook"] != "true" {
		t.Fatalf("lenient JSON or props: %q %v", posts[3].Message, posts[0].Props)
	}
	if o := s.Posts(otherID); len(o) != 1 || !o[0].Mentions.All || o[0].Type != "slack_attachment" {
		t.Fatalf("attachment post: %+v", o)
	}

	for _, tc := range []struct {
		name, path, ct string
		body           []byte
		status         int
		errID          string
	}{
		{"unknown hook is 400", "/hooks/nope", "application/json", mustJSON(map[string]any{"text": "x"}), 400, ErrHookInvalid},
		{"no text", "/hooks/hookkey", "application/json", mustJSON(map[string]any{"username": "x"}), 400, ErrHookText},
		{"unparseable", "/hooks/hookkey", "application/json", []byte("{nope"), 400, ErrHookParse},
		{"bad content type", "/hooks/hookkey", "text/csv", []byte("a,b"), 400, ErrHookContentType},
		{"unknown channel", "/hooks/hookkey", "application/json", mustJSON(map[string]any{"text": "x", "channel": "nowhere"}), 404, ErrHookChannel},
		{"unknown user", "/hooks/hookkey", "application/json", mustJSON(map[string]any{"text": "x", "channel": "@nobody"}), 400, ErrHookUser},
		{"locked hook", "/hooks/locked", "application/json", mustJSON(map[string]any{"text": "x", "channel": "other"}), 403, ErrHookChannelLocked},
		{"system type", "/hooks/hookkey", "application/json", mustJSON(map[string]any{"text": "x", "type": "system_x"}), 400, ErrInvalidParam},
		{"oversized body is a parse error", "/hooks/hookkey", "application/json", mustJSON(map[string]any{"text": strings.Repeat("a", DefaultMaximumPayloadSizeBytes+600)}), 400, ErrHookParse},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := do(t, "POST", s.URL()+tc.path, "", tc.ct, tc.body)
			if e := r.appError(t); r.status != tc.status || e.ID != tc.errID {
				t.Fatalf("got %d %s, want %d %s", r.status, e.ID, tc.status, tc.errID)
			}
		})
	}
	t.Run("disabled", func(t *testing.T) {
		d := newFake(t, WithWebhooksDisabled())
		r := do(t, "POST", d.URL()+"/hooks/hookkey", "", "application/json", mustJSON(map[string]any{"text": "x"}))
		if e := r.appError(t); r.status != 501 || e.ID != ErrHookDisabled {
			t.Fatalf("%d %s", r.status, r)
		}
	})
	noViolations(t, s)
}
