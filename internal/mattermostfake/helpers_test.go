package mattermostfake

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const token = "bot-token"

var (
	chanID     = "c1c1c1c1c1c1c1c1c1c1c1c1c1"
	archivedID = "a1a1a1a1a1a1a1a1a1a1a1a1a1"
	otherID    = "o1o1o1o1o1o1o1o1o1o1o1o1o1"
	unknownID  = "u1u1u1u1u1u1u1u1u1u1u1u1u1"
)

// manualClock is an injectable clock: tests move time, nothing sleeps.
type manualClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *manualClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *manualClock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// newFake starts a fake with an ordinary channel, an archived one, another
// channel, a webhook "hookkey" on the ordinary channel and a user "alice".
// Unless the test expects them, contract violations fail the test.
func newFake(t *testing.T, opts ...Option) *Server {
	t.Helper()
	base := []Option{
		WithChannel(Channel{ID: chanID, Name: "alerts", DisplayName: "Alerts"}),
		WithChannel(Channel{ID: archivedID, Name: "old", Archived: true}),
		WithChannel(Channel{ID: otherID, Name: "other"}),
		WithWebhook(Webhook{Key: "hookkey", ChannelID: chanID, DisplayName: "slowspan"}),
		WithUser(User{ID: "a11ce0000000000000000000aa", Username: "alice"}, "alice-token"),
	}
	s := New(append(base, opts...)...)
	t.Cleanup(s.Close)
	return s
}

func noViolations(t *testing.T, s *Server) {
	t.Helper()
	if v := s.Violations(); len(v) > 0 {
		t.Fatalf("unexpected contract violations:\n%s", strings.Join(v, "\n"))
	}
}

type resp struct {
	status int
	header http.Header
	body   []byte
}

func (r resp) appError(t *testing.T) AppError {
	t.Helper()
	if ct := r.header.Get("Content-Type"); ct != "application/json" {
		t.Fatalf("Content-Type = %q, want application/json; body %s", ct, r.body)
	}
	var e AppError
	if err := json.Unmarshal(r.body, &e); err != nil {
		t.Fatalf("body is not an AppError: %v: %s", err, r.body)
	}
	// detailed_error must be present even when empty.
	var raw map[string]any
	_ = json.Unmarshal(r.body, &raw)
	if _, ok := raw["detailed_error"]; !ok {
		t.Fatalf("detailed_error missing: %s", r.body)
	}
	if e.RequestID == "" || e.RequestID != r.header.Get("X-Request-Id") {
		t.Fatalf("request_id %q != X-Request-Id %q", e.RequestID, r.header.Get("X-Request-Id"))
	}
	if e.StatusCode != r.status {
		t.Fatalf("status_code %d != HTTP status %d", e.StatusCode, r.status)
	}
	return e
}

func do(t *testing.T, method, url, tok, contentType string, body []byte) resp {
	t.Helper()
	req, err := http.NewRequest(method, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if body == nil {
		req.Body = nil
	}
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = res.Body.Close() }()
	b, _ := io.ReadAll(res.Body)
	if res.Header.Get("X-Version-Id") == "" {
		t.Fatalf("%s %s: no X-Version-Id", method, url)
	}
	return resp{status: res.StatusCode, header: res.Header, body: b}
}

// String keeps failure messages short.
func (r resp) String() string {
	if len(r.body) > 300 {
		return string(r.body[:300]) + "..."
	}
	return string(r.body)
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

// TestEmbeddedSpec: the embedded OpenAPI subset loads, is valid, and has
// every path the fake validates against it.
func TestEmbeddedSpec(t *testing.T) {
	doc, err := Spec()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range specPaths {
		if doc.Paths.Find(p) == nil {
			t.Errorf("openapi-subset.yaml has no path %s", p)
		}
	}
}
