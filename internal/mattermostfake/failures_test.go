package mattermostfake

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestFailNext(t *testing.T) {
	s := newFake(t)
	me := s.URL() + "/api/v4/users/me"
	s.FailNextWith(1, Failure{Status: 429, RetryAfter: 7, RateLimitReset: 3})
	r := do(t, "GET", me, token, "", nil)
	if r.status != 429 || string(r.body) != "limit exceeded\n" || !strings.HasPrefix(r.header.Get("Content-Type"), "text/plain") ||
		r.header.Get("Retry-After") != "7" || r.header.Get("X-RateLimit-Reset") != "3" {
		t.Fatalf("429: %d %q %v", r.status, r.body, r.header)
	}
	s.FailNext(2, 500)
	for range 2 {
		if r := do(t, "GET", me, token, "", nil); r.status != 500 {
			t.Fatalf("want 500, got %d", r.status)
		} else {
			r.appError(t)
		}
	}
	s.FailNext(1, 503)
	if r := do(t, "GET", me, token, "", nil); r.status != 503 || !strings.Contains(string(r.body), "<html>") {
		t.Fatalf("proxy 503: %d %q", r.status, r.body)
	}
	if r := do(t, "GET", me, token, "", nil); r.status != 200 {
		t.Fatalf("after failures: %d", r.status)
	}
	if got := len(s.Requests()); got != 5 {
		t.Fatalf("%d requests logged", got)
	}
	noViolations(t, s)
}

func TestHangUntilClientTimeout(t *testing.T) {
	s := newFake(t)
	s.Hang()
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", s.URL()+"/api/v4/system/ping", nil)
	_, err := http.DefaultClient.Do(req)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("want a client timeout, got %v", err)
	}
	s.Unhang()
	if r := do(t, "GET", s.URL()+"/api/v4/system/ping", "", "", nil); r.status != 200 {
		t.Fatalf("after Unhang: %d", r.status)
	}
}

func TestHangReleasedByClose(t *testing.T) {
	s := New()
	s.Hang()
	// The request ends when the server closes, with or without an error:
	// that it ends is the test.
	done := make(chan struct{})
	go func() {
		defer close(done)
		res, err := http.Get(s.URL() + "/api/v4/system/ping")
		if err == nil {
			_ = res.Body.Close()
		}
	}()
	if err := s.WaitHanging(context.Background(), 1); err != nil {
		t.Fatal(err)
	}
	s.Close()
	<-done
}

func TestDownAndUp(t *testing.T) {
	s := newFake(t)
	client := &http.Client{Transport: &http.Transport{}}
	defer client.CloseIdleConnections()
	get := func() error {
		res, err := client.Get(s.URL() + "/api/v4/system/ping")
		if err == nil {
			_ = res.Body.Close()
		}
		return err
	}
	if err := get(); err != nil {
		t.Fatal(err)
	}
	s.Down()
	if err := get(); !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("want connection refused, got %v", err)
	}
	if err := s.Up(); err != nil {
		t.Fatal(err)
	}
	if err := get(); err != nil {
		t.Fatalf("after Up: %v", err)
	}
}

// Strict mode answers a request that breaks the OpenAPI subset with 400;
// lenient mode serves it and only records it.
func TestValidationCatchesMalformedRequests(t *testing.T) {
	bad := mustJSON(map[string]any{"channel_id": chanID, "message": "x", "file_ids": "not-an-array"})
	s := newFake(t)
	r := createPostRaw(t, s, bad)
	if e := r.appError(t); r.status != 400 || e.ID != ErrContractViolation || !strings.Contains(e.Message, "file_ids") {
		t.Fatalf("strict: %d %s", r.status, r)
	}
	if v := s.Violations(); len(v) != 1 {
		t.Fatalf("violations %q", v)
	}
	missing := mustJSON(map[string]any{"channel_id": chanID})
	if r := createPostRaw(t, s, missing); r.status != 400 || !strings.Contains(string(r.body), "message") {
		t.Fatalf("missing message: %d %s", r.status, r)
	}

	l := newFake(t, WithStrict(false))
	if r := createPostRaw(t, l, missing); r.status != 201 {
		t.Fatalf("lenient: %d %s", r.status, r)
	}
	if v := l.Violations(); len(v) != 1 || !strings.Contains(v[0], "message") {
		t.Fatalf("lenient violations %q", v)
	}
}

func createPostRaw(t *testing.T, s *Server, body []byte) resp {
	t.Helper()
	return do(t, "POST", s.URL()+"/api/v4/posts", token, "application/json", body)
}
