package mattermostfake

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Defaults from exporter/mattermostexporter/PROTOCOL.md sections 1, 6 and 8.
const (
	DefaultMaxPostSize             = 16383
	DefaultMaximumPayloadSizeBytes = 300000
	DefaultMaxFileSize             = 100 * 1024 * 1024
	PendingPostIDTTL               = 30 * time.Second
	// Version is sent as X-Version-Id.
	Version = "10.5.0.fake"
)

// User is a Mattermost user known to the fake. The first user configured
// with a token is the session user for that token.
type User struct {
	ID       string
	Username string
	IsBot    bool
	Roles    string
}

// Channel is a channel known to the fake.
type Channel struct {
	ID          string // 26-char id
	TeamID      string
	Name        string
	DisplayName string
	Type        string // "O" (default) or "P"
	Archived    bool   // delete_at != 0: posts get 400
	NoRead      bool   // GET /channels/{id} answers 403
	NoPost      bool   // POST /posts answers 403 (e.g. read-only channel)
	// NoChannelMentions models a bot without use_channel_mentions here:
	// posts are created, channel-wide mentions notify nobody.
	NoChannelMentions bool
}

// Webhook is an incoming webhook.
type Webhook struct {
	Key         string // the secret in /hooks/{key}
	ChannelID   string // default channel
	Locked      bool   // refuse "channel" overrides
	DisplayName string
	Username    string
}

// Option configures a Server.
type Option func(*Server)

// WithToken makes token a valid bot/PAT token for user (default: the bot).
func WithToken(token string) Option { return func(s *Server) { s.tokens[token] = s.bot.ID } }

// WithBot replaces the default bot user (username "slowspan-bot").
func WithBot(u User) Option {
	return func(s *Server) {
		delete(s.users, s.bot.ID)
		u.IsBot = true
		if u.ID == "" {
			u.ID = NewID()
		}
		for t, id := range s.tokens {
			if id == s.bot.ID {
				s.tokens[t] = u.ID
			}
		}
		s.bot = u
		s.users[u.ID] = u
	}
}

// WithUser adds a user (a channel member whose "@username" can be
// mentioned) and, if token is not empty, a token for it.
func WithUser(u User, token string) Option {
	return func(s *Server) {
		if u.ID == "" {
			u.ID = NewID()
		}
		s.users[u.ID] = u
		if token != "" {
			s.tokens[token] = u.ID
		}
	}
}

// WithChannel adds a channel.
func WithChannel(c Channel) Option {
	return func(s *Server) {
		if c.Type == "" {
			c.Type = "O"
		}
		if c.TeamID == "" {
			c.TeamID = s.teamID
		}
		if c.Name == "" {
			c.Name = strings.ToLower(c.ID)
		}
		s.channels[c.ID] = &c
	}
}

// WithWebhook adds an incoming webhook.
func WithWebhook(h Webhook) Option { return func(s *Server) { s.hooks[h.Key] = h } }

// WithMaxPostSize sets MaxPostSize in runes (default 16383).
func WithMaxPostSize(n int) Option { return func(s *Server) { s.maxPostSize = n } }

// WithMaxFileSize sets FileSettings.MaxFileSize in bytes (default 100 MiB).
func WithMaxFileSize(n int64) Option { return func(s *Server) { s.maxFileSize = n } }

// WithUploadsDisabled sets EnableFileAttachments=false: uploads get 403.
func WithUploadsDisabled() Option { return func(s *Server) { s.uploadsDisabled = true } }

// WithWebhooksDisabled sets EnableIncomingWebhooks=false: hooks get 501.
func WithWebhooksDisabled() Option { return func(s *Server) { s.hooksDisabled = true } }

// WithPostOverrides enables EnablePostUsernameOverride and
// EnablePostIconOverride (both off by default on a real server).
func WithPostOverrides() Option { return func(s *Server) { s.overrides = true } }

// WithPostEditTimeLimit sets ServiceSettings.PostEditTimeLimit (default
// -1: none): a patch that changes the message of a post older than d
// answers 400 api.post.update_post.permissions_time_limit.app_error.
func WithPostEditTimeLimit(d time.Duration) Option {
	return func(s *Server) { s.editTimeLimit = d }
}

// WithClock injects the clock used for create_at and pending_post_id expiry.
func WithClock(now func() time.Time) Option { return func(s *Server) { s.now = now } }

// WithListener serves on l instead of a random loopback port (the
// fakemattermost command uses it to listen on a given address).
func WithListener(l net.Listener) Option { return func(s *Server) { s.listener = l } }

// WithStrict sets whether a request that violates the OpenAPI subset is
// answered with 400 mattermostfake.contract_violation (default true) or
// only recorded in Violations.
func WithStrict(strict bool) Option { return func(s *Server) { s.strict = strict } }

// Server is the fake. All methods are safe for concurrent use.
type Server struct {
	ts   *httptest.Server
	addr string
	// cur is the listener in use: httptest's at first, ours after Up.
	// httptest.Server.Listener is never reassigned: its serve goroutine
	// reads it unsynchronised.
	cur net.Listener
	// listener, set by WithListener, replaces httptest's own.
	listener net.Listener
	teamID   string

	mu              sync.Mutex
	bot             User
	users           map[string]User
	tokens          map[string]string // token -> user id
	channels        map[string]*Channel
	hooks           map[string]Webhook
	maxPostSize     int
	maxPayload      int64
	maxFileSize     int64
	uploadsDisabled bool
	hooksDisabled   bool
	overrides       bool
	editTimeLimit   time.Duration // 0: no limit
	strict          bool
	unhealthy       bool
	now             func() time.Time

	posts      []*Post
	postsByID  map[string]*Post
	pending    map[string]pendingEntry
	files      map[string]*StoredFile
	requests   []Request
	violations []string

	failures []Failure
	hanging  bool
	hungN    int
	hungCh   chan struct{} // closed and replaced whenever hungN grows
	down     bool
	closing  chan struct{}
	closed   bool
}

type pendingEntry struct {
	postID string
	at     time.Time
}

// Request is one request the fake received, as it received it.
type Request struct {
	Method string
	Path   string
	Query  string
	Header http.Header
	Body   []byte
	Status int
	// At is when the request arrived (wall clock, for tests that check
	// a client's pacing, e.g. Retry-After).
	At time.Time
}

// New starts a fake on a loopback port. Without options it has one bot
// user with token "bot-token" and nothing else.
func New(opts ...Option) *Server {
	s := &Server{
		teamID:      NewID(),
		users:       map[string]User{},
		tokens:      map[string]string{},
		channels:    map[string]*Channel{},
		hooks:       map[string]Webhook{},
		maxPostSize: DefaultMaxPostSize,
		maxPayload:  DefaultMaximumPayloadSizeBytes,
		maxFileSize: DefaultMaxFileSize,
		strict:      true,
		now:         time.Now,
		postsByID:   map[string]*Post{},
		pending:     map[string]pendingEntry{},
		files:       map[string]*StoredFile{},
		closing:     make(chan struct{}),
		hungCh:      make(chan struct{}),
	}
	s.bot = User{ID: NewID(), Username: "slowspan-bot", IsBot: true, Roles: "system_user"}
	s.users[s.bot.ID] = s.bot
	s.tokens["bot-token"] = s.bot.ID
	for _, o := range opts {
		o(s)
	}
	s.ts = httptest.NewUnstartedServer(http.HandlerFunc(s.serve))
	if s.listener != nil {
		_ = s.ts.Listener.Close()
		s.ts.Listener = s.listener
	}
	s.ts.Start()
	s.addr = s.ts.Listener.Addr().String()
	s.cur = s.ts.Listener
	return s
}

// URL is the base URL, e.g. http://127.0.0.1:port (no trailing slash).
func (s *Server) URL() string { return s.ts.URL }

// Bot returns the bot user.
func (s *Server) Bot() User { s.mu.Lock(); defer s.mu.Unlock(); return s.bot }

// Close releases hanging requests and stops the server.
func (s *Server) Close() {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.closed = true
	close(s.closing)
	if s.cur != s.ts.Listener {
		_ = s.cur.Close() // a listener of Up's: httptest does not know it
	}
	s.mu.Unlock()
	s.ts.CloseClientConnections()
	s.ts.Close()
}

// ---- failure injection -------------------------------------------------

// Failure is an injected answer.
type Failure struct {
	Status int
	// RetryAfter and RateLimitReset, in seconds, set the Retry-After and
	// X-RateLimit-Reset headers of a 429 (Retry-After is only sent when
	// > 0; a real server always sends it).
	RetryAfter     int
	RateLimitReset int
}

// FailNext makes the next n requests answer status. 429 answers like the
// real rate limiter: text/plain "limit exceeded", Retry-After: 1 and
// X-RateLimit-* headers. 500 answers an AppError; 502, 503 and 504 answer
// an HTML body, as a reverse proxy would.
func (s *Server) FailNext(n int, status int) {
	f := Failure{Status: status}
	if status == http.StatusTooManyRequests {
		f.RetryAfter, f.RateLimitReset = 1, 1
	}
	s.FailNextWith(n, f)
}

// FailNextWith makes the next n requests answer f.
func (s *Server) FailNextWith(n int, f Failure) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for range n {
		s.failures = append(s.failures, f)
	}
}

// Hang makes every request wait, unanswered, until the client gives up,
// Unhang is called or the server is closed.
func (s *Server) Hang() { s.mu.Lock(); s.hanging = true; s.mu.Unlock() }

// Unhang stops Hang for new requests (those already waiting keep waiting
// for their client or Close).
func (s *Server) Unhang() { s.mu.Lock(); s.hanging = false; s.mu.Unlock() }

// WaitHanging blocks until at least n requests have been held by Hang
// (in total), or ctx ends; tests use it instead of sleeping.
func (s *Server) WaitHanging(ctx context.Context, n int) error {
	for {
		s.mu.Lock()
		got, ch := s.hungN, s.hungCh
		s.mu.Unlock()
		if got >= n {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// SetUnhealthy makes /system/ping report UNHEALTHY (500 unless
// use_rest_semantics=true).
func (s *Server) SetUnhealthy(v bool) { s.mu.Lock(); s.unhealthy = v; s.mu.Unlock() }

// Down closes the listener and every open connection: new connections get
// "connection refused" until Up.
func (s *Server) Down() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.down || s.closed {
		return
	}
	s.down = true
	_ = s.cur.Close()
	s.ts.CloseClientConnections()
}

// Up listens again on the same address.
func (s *Server) Up() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.down || s.closed {
		return nil
	}
	l, err := net.Listen("tcp", s.addr)
	if err != nil {
		return fmt.Errorf("mattermostfake: listen again on %s: %w", s.addr, err)
	}
	s.down = false
	s.cur = l
	go func() { _ = s.ts.Config.Serve(l) }()
	return nil
}

// ---- stores --------------------------------------------------------------

// Requests returns every request received so far.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.requests...)
}

// Violations returns the OpenAPI contract violations seen so far, requests
// and responses.
func (s *Server) Violations() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.violations...)
}

// Posts returns copies of the posts in channelID ("" for all), oldest first.
func (s *Server) Posts(channelID string) []Post {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Post
	for _, p := range s.posts {
		if channelID == "" || p.ChannelID == channelID {
			out = append(out, p.clone())
		}
	}
	return out
}

// Post returns a copy of the post with id, deleted or not.
func (s *Server) Post(id string) (Post, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p, ok := s.postsByID[id]
	if !ok {
		return Post{}, false
	}
	return p.clone(), true
}

// DeletePost marks the post deleted (delete_at set), as a user deleting it
// in the web app: it stays in Posts, a reply to it or a patch of it fails.
func (s *Server) DeletePost(id string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	p, ok := s.postsByID[id]
	if ok {
		p.DeleteAt = s.now().UnixMilli()
	}
	return ok
}

// Files returns the uploaded files.
func (s *Server) Files() []StoredFile {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []StoredFile
	for _, f := range s.files {
		out = append(out, *f)
	}
	return out
}

func (s *Server) usernames() []string {
	var out []string
	for _, u := range s.users {
		out = append(out, u.Username)
	}
	return out
}

// ---- middleware --------------------------------------------------------

// recorder buffers a response so it can be validated before it is sent.
type recorder struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (r *recorder) Header() http.Header { return r.header }
func (r *recorder) WriteHeader(status int) {
	if r.status == 0 {
		r.status = status
	}
}
func (r *recorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	return r.body.Write(b)
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	rid := NewID()
	w.Header().Set("X-Request-Id", rid)
	w.Header().Set("X-Version-Id", Version)
	if r.Method == http.MethodGet {
		w.Header().Set("Expires", "0")
	}

	// Read at most the route's cap + 512 (+1 to detect excess), as the real
	// server's MaxBytesReader does.
	limit := s.maxPayload + 512
	if r.URL.Path == "/api/v4/files" {
		limit = s.maxFileSize + 512
	}
	body, _ := io.ReadAll(io.LimitReader(r.Body, limit+1))
	tooLarge := int64(len(body)) > limit
	r.Body = io.NopCloser(bytes.NewReader(body))

	s.mu.Lock()
	idx := len(s.requests)
	s.requests = append(s.requests, Request{Method: r.Method, Path: r.URL.Path, Query: r.URL.RawQuery, Header: r.Header.Clone(), Body: body, At: time.Now()})
	hang := s.hanging
	var fail *Failure
	if len(s.failures) > 0 {
		f := s.failures[0]
		s.failures = s.failures[1:]
		fail = &f
	}
	s.mu.Unlock()

	rec := &recorder{header: w.Header()}
	defer func() {
		s.mu.Lock()
		s.requests[idx].Status = rec.status
		s.mu.Unlock()
	}()

	if hang {
		s.mu.Lock()
		s.hungN++
		close(s.hungCh)
		s.hungCh = make(chan struct{})
		s.mu.Unlock()
		select {
		case <-r.Context().Done():
		case <-s.closing:
		}
		rec.status = -1
		return
	}
	if fail != nil {
		writeFailure(rec, *fail)
		s.flush(w, rec)
		return
	}

	route, params := findRoute(r.Method, r.URL.Path)
	var reqInput *requestInput
	if route != nil && !tooLarge {
		var err error
		reqInput, err = validateRequest(r, route, params, body)
		if err != nil {
			msg := fmt.Sprintf("request %s %s violates the OpenAPI contract: %v", r.Method, r.URL.Path, err)
			s.addViolation(msg)
			if s.isStrict() {
				writeAppError(rec, http.StatusBadRequest, ErrContractViolation, "mattermostfake: "+msg)
				s.flush(w, rec)
				return
			}
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
	}

	if tooLarge && !strings.HasPrefix(r.URL.Path, "/hooks/") {
		if r.URL.Path == "/api/v4/files" {
			writeAppError(rec, http.StatusRequestEntityTooLarge, ErrFileTooLarge, "")
		} else {
			writeAppError(rec, http.StatusRequestEntityTooLarge, ErrBodyTooLarge, "")
		}
	} else {
		s.route(rec, r, tooLarge)
	}

	if reqInput != nil {
		if err := validateResponse(reqInput, rec.status, rec.header, rec.body.Bytes()); err != nil {
			s.addViolation(fmt.Sprintf("response %d to %s %s violates the OpenAPI contract: %v", rec.status, r.Method, r.URL.Path, err))
		}
	}
	s.flush(w, rec)
}

func (s *Server) flush(w http.ResponseWriter, rec *recorder) {
	if rec.status == 0 {
		rec.status = http.StatusOK
	}
	w.WriteHeader(rec.status)
	_, _ = w.Write(rec.body.Bytes())
}

func (s *Server) isStrict() bool { s.mu.Lock(); defer s.mu.Unlock(); return s.strict }

func (s *Server) addViolation(v string) {
	s.mu.Lock()
	s.violations = append(s.violations, v)
	s.mu.Unlock()
}

func writeFailure(w http.ResponseWriter, f Failure) {
	switch f.Status {
	case http.StatusTooManyRequests:
		// Section 9: throttled's headers, plain-text body from http.Error.
		w.Header().Set("X-RateLimit-Limit", "101")
		w.Header().Set("X-RateLimit-Remaining", "0")
		w.Header().Set("X-RateLimit-Reset", strconv.Itoa(f.RateLimitReset))
		if f.RetryAfter > 0 {
			w.Header().Set("Retry-After", strconv.Itoa(f.RetryAfter))
		}
		http.Error(w, "limit exceeded", http.StatusTooManyRequests)
	case http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(f.Status)
		_, _ = fmt.Fprintf(w, "<html><body><h1>%d %s</h1></body></html>\n", f.Status, http.StatusText(f.Status))
	default:
		writeAppError(w, f.Status, ErrInjectedFailure, "")
	}
}

func (s *Server) route(w http.ResponseWriter, r *http.Request, tooLarge bool) {
	p := r.URL.Path
	switch {
	case p == "/api/v4/system/ping" && r.Method == http.MethodGet:
		s.handlePing(w, r)
	case strings.HasPrefix(p, "/api/v4/users/") && r.Method == http.MethodGet && strings.Count(p, "/") == 4:
		s.handleUser(w, r, strings.TrimPrefix(p, "/api/v4/users/"))
	case strings.HasPrefix(p, "/api/v4/channels/") && r.Method == http.MethodGet && strings.Count(p, "/") == 4:
		s.handleChannel(w, r, strings.TrimPrefix(p, "/api/v4/channels/"))
	case p == "/api/v4/posts" && r.Method == http.MethodPost:
		s.handleCreatePost(w, r)
	case p == "/api/v4/files" && r.Method == http.MethodPost:
		s.handleUpload(w, r)
	case strings.HasPrefix(p, "/api/v4/posts/") && strings.HasSuffix(p, "/patch") && r.Method == http.MethodPut && strings.Count(p, "/") == 5:
		s.handlePatchPost(w, r, strings.TrimSuffix(strings.TrimPrefix(p, "/api/v4/posts/"), "/patch"))
	case strings.HasPrefix(p, "/hooks/") && r.Method == http.MethodPost && hookKeyRe.MatchString(strings.TrimPrefix(p, "/hooks/")):
		s.handleWebhook(w, r, strings.TrimPrefix(p, "/hooks/"), tooLarge)
	default:
		writeAppError(w, http.StatusNotFound, ErrNotFound, "")
	}
}

// session resolves the caller (exporter/mattermostexporter/PROTOCOL.md section 1): MMAUTHTOKEN cookie
// wins, then "Authorization: Bearer|Token <t>" (scheme case-insensitive).
// It writes the 401 itself and returns false on failure.
func (s *Server) session(w http.ResponseWriter, r *http.Request) (User, bool) {
	token := ""
	if c, err := r.Cookie("MMAUTHTOKEN"); err == nil {
		token = c.Value
	} else if h := r.Header.Get("Authorization"); len(h) > 6 && strings.ToUpper(h[:6]) == "BEARER" {
		token = strings.TrimSpace(h[7:])
	} else if len(h) > 5 && strings.ToUpper(h[:5]) == "TOKEN" {
		token = strings.TrimSpace(h[6:])
	} else if r.URL.Query().Get("access_token") != "" {
		writeAppError(w, http.StatusUnauthorized, ErrTokenProvided, "")
		return User{}, false
	}
	s.mu.Lock()
	id, ok := s.tokens[token]
	u := s.users[id]
	s.mu.Unlock()
	if token == "" || !ok {
		writeAppError(w, http.StatusUnauthorized, ErrSessionExpired, "")
		return User{}, false
	}
	return u, true
}
