// Command fakemattermost runs slowspan's contract-faithful fake Mattermost
// (internal/mattermostfake) as a small server, to try the mattermost exporter
// without a real server:
//
//	go run ./cmd/fakemattermost -addr 127.0.0.1:8065 -token dev-token -channel <26-char id>
//
// It validates every request against the official OpenAPI subset and logs
// each post as it arrives (channel, root id when it is a reply, the first
// line of the message, file count, mentions a real server would fire), and
// each edit. GET /posts (?channel_id= to pick one channel) returns the posts
// as JSON shaped like the real API's post list: {"order": [ids, newest
// first], "posts": {id: post}}. On interrupt it prints every post in full
// and any contract violation.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/signal"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"
	"unicode"

	"github.com/slowspan/slowspan/internal/mattermostfake"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, nil)
	stop()
	if err != nil {
		log.Fatalf("fakemattermost: %v", err)
	}
}

// run serves the fake until ctx is done. ready, when set, gets the base URL
// once it listens.
func run(ctx context.Context, args []string, out io.Writer, ready func(string)) error {
	fs := flag.NewFlagSet("fakemattermost", flag.ContinueOnError)
	fs.SetOutput(out)
	addr := fs.String("addr", "127.0.0.1:8065", "listen address (loopback by default)")
	token := fs.String("token", "dev-token", "bot access token the fake accepts")
	channel := fs.String("channel", "", "channel id (26 characters); a new one is made when empty")
	hook := fs.String("webhook", "", "incoming webhook key to accept at /hooks/<key> (optional)")
	if err := fs.Parse(args); err != nil {
		return err
	}

	l, err := net.Listen("tcp", *addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", *addr, err)
	}
	id := *channel
	if id == "" {
		id = mattermostfake.NewID()
	}
	// The fake listens on a loopback port of its own; the address the user
	// gave serves GET /posts and hands every other request to the fake, then
	// logs the posts that request created or edited.
	opts := []mattermostfake.Option{
		mattermostfake.WithToken(*token),
		mattermostfake.WithChannel(mattermostfake.Channel{ID: id, Name: "alerts", DisplayName: "Alerts"}),
	}
	if *hook != "" {
		opts = append(opts, mattermostfake.WithWebhook(mattermostfake.Webhook{Key: *hook, ChannelID: id}))
	}
	s := mattermostfake.New(opts...)
	defer s.Close()
	target, err := url.Parse(s.URL())
	if err != nil {
		return err
	}
	logger := log.New(out, "", log.LstdFlags)
	w := &watcher{s: s, log: logger, edits: map[string]int64{}}
	proxy := &httputil.ReverseProxy{Rewrite: func(r *httputil.ProxyRequest) {
		r.SetURL(target)
		r.Out.Host = r.In.Host
	}}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /posts", func(rw http.ResponseWriter, r *http.Request) {
		rw.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(rw).Encode(postList(s.Posts(r.URL.Query().Get("channel_id"))))
	})
	mux.HandleFunc("/", func(rw http.ResponseWriter, r *http.Request) {
		proxy.ServeHTTP(rw, r)
		if r.Method != http.MethodGet {
			w.logNew()
		}
	})
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(l) }()

	say := func(format string, a ...any) { _, _ = fmt.Fprintf(out, format, a...) }
	base := "http://" + l.Addr().String()
	say("fake Mattermost at %s\n  token:      %s\n  channel_id: %s\n  posts:      GET %s/posts\n", base, *token, id, base)
	if *hook != "" {
		say("  webhook:    %s/hooks/%s\n", base, *hook)
	}
	if ready != nil {
		ready(base)
	}

	select {
	case <-ctx.Done():
	case err := <-done:
		return err
	}
	shutCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = srv.Shutdown(shutCtx)
	w.logNew()
	for _, p := range s.Posts(id) {
		say("post %s (root %q, %d files, mentions fired: %v):\n%s\n\n", p.ID, p.RootID, len(p.FileIDs), p.Mentions.Fired(), p.Message)
	}
	if v := s.Violations(); len(v) > 0 {
		say("contract violations:\n")
		for _, x := range v {
			say("  %s\n", x)
		}
	}
	return nil
}

// watcher logs the posts it has not seen, and edits (a new edit_at).
type watcher struct {
	s     *mattermostfake.Server
	log   *log.Logger
	mu    sync.Mutex
	edits map[string]int64 // post id -> edit_at last logged
}

func (w *watcher) logNew() {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, p := range w.s.Posts("") {
		last, seen := w.edits[p.ID]
		switch {
		case !seen:
			w.edits[p.ID] = p.EditAt
			w.log.Print(describe("post", p))
		case p.EditAt != last:
			w.edits[p.ID] = p.EditAt
			w.log.Print(describe("post edited", p))
		}
	}
}

// describe is one log line for p: never the whole message, which may be
// long; its first line, without control characters.
func describe(what string, p mattermostfake.Post) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s channel=%s", what, p.ID, p.ChannelID)
	if p.RootID != "" {
		fmt.Fprintf(&b, " root=%s", p.RootID)
	}
	fmt.Fprintf(&b, " files=%d", len(p.FileIDs))
	if p.FromWebhook {
		b.WriteString(" webhook")
	}
	if p.Mentions.Fired() {
		b.WriteString(" MENTIONS-FIRED")
	}
	fmt.Fprintf(&b, ": %s", firstLine(p.Message))
	return b.String()
}

const maxLineRunes = 200

func firstLine(msg string) string {
	line, _, more := strings.Cut(msg, "\n")
	line = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return -1
		}
		return r
	}, line)
	if r := []rune(line); len(r) > maxLineRunes {
		return string(r[:maxLineRunes]) + "…"
	}
	if more {
		return line + " …"
	}
	return line
}

// postListJSON is the real API's post list (GET
// /api/v4/channels/{channel_id}/posts): ids newest first, posts by id.
type postListJSON struct {
	Order      []string                       `json:"order"`
	Posts      map[string]mattermostfake.Post `json:"posts"`
	NextPostID string                         `json:"next_post_id"`
	PrevPostID string                         `json:"prev_post_id"`
	HasNext    bool                           `json:"has_next"`
}

func postList(posts []mattermostfake.Post) postListJSON {
	out := postListJSON{Order: make([]string, 0, len(posts)), Posts: make(map[string]mattermostfake.Post, len(posts))}
	for _, p := range slices.Backward(posts) {
		out.Order = append(out.Order, p.ID)
		out.Posts[p.ID] = p
	}
	return out
}
