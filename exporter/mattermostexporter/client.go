package mattermostexporter // import "github.com/slowspan/slowspan/exporter/mattermostexporter"

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Wire types: only the fields this exporter sends or reads, with the JSON
// names of the Mattermost API (PROTOCOL.md).

// createPostRequest is the body of POST /api/v4/posts.
// https://developers.mattermost.com/api-documentation/#/operations/CreatePost
type createPostRequest struct {
	ChannelID string   `json:"channel_id"`
	Message   string   `json:"message"`
	RootID    string   `json:"root_id,omitempty"`
	FileIDs   []string `json:"file_ids,omitempty"`
	// PendingPostID makes a retry within 30 s return the post already
	// created instead of a duplicate (PROTOCOL.md section 5).
	PendingPostID string `json:"pending_post_id,omitempty"`
}

// patchPostRequest is the body of PUT /api/v4/posts/{post_id}/patch; an
// omitted field is left unchanged. Only the message is ever patched.
// https://developers.mattermost.com/api-documentation/#/operations/PatchPost
type patchPostRequest struct {
	Message *string `json:"message,omitempty"`
}

// post is the 201 body of CreatePost (the fields we rely on).
// https://developers.mattermost.com/api-documentation/#/operations/CreatePost
type post struct {
	ID        string   `json:"id"`
	ChannelID string   `json:"channel_id"`
	RootID    string   `json:"root_id"`
	FileIDs   []string `json:"file_ids"`
}

// uploadResponse is the 201 body of POST /api/v4/files.
// https://developers.mattermost.com/api-documentation/#/operations/UploadFile
type uploadResponse struct {
	FileInfos []fileInfo `json:"file_infos"`
}

// fileInfo is one uploaded file.
// https://developers.mattermost.com/api-documentation/#/operations/UploadFile
type fileInfo struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

// user is the 200 body of GET /api/v4/users/me.
// https://developers.mattermost.com/api-documentation/#/operations/GetUser
type user struct {
	ID       string `json:"id"`
	Username string `json:"username"`
	IsBot    bool   `json:"is_bot"`
}

// channel is the 200 body of GET /api/v4/channels/{channel_id}.
// https://developers.mattermost.com/api-documentation/#/operations/GetChannel
type channel struct {
	ID          string `json:"id"`
	Name        string `json:"name"`
	DisplayName string `json:"display_name"`
	Type        string `json:"type"`
	DeleteAt    int64  `json:"delete_at"`
}

// appError is the body of every error answered by Mattermost's handlers
// (not of 429s or proxies' errors).
// https://developers.mattermost.com/api-documentation/#/introduction (Errors)
type appError struct {
	ID         string `json:"id"`
	Message    string `json:"message"`
	RequestID  string `json:"request_id"`
	StatusCode int    `json:"status_code"`
}

// webhookRequest is the body of POST /hooks/{key}.
// https://developers.mattermost.com/integrate/webhooks/incoming/#parameters
type webhookRequest struct {
	Text     string `json:"text"`
	Username string `json:"username,omitempty"`
	IconURL  string `json:"icon_url,omitempty"`
	Channel  string `json:"channel,omitempty"`
}

// upload is one file to attach.
type upload struct {
	name        string
	contentType string
	data        []byte
}

// statusError is a non-2xx answer.
type statusError struct {
	op         string // e.g. "POST /api/v4/posts"
	status     int
	id         string // AppError id, when the body was one
	message    string // AppError message, or the start of a non-JSON body
	requestID  string
	retryAfter time.Duration // 429 only
	hint       string        // what to fix
}

func (e *statusError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "mattermost: %s: HTTP %d", e.op, e.status)
	if e.id != "" {
		b.WriteString(" " + e.id)
	}
	if e.message != "" {
		b.WriteString(" (" + e.message + ")")
	}
	if e.requestID != "" {
		b.WriteString(" request_id=" + e.requestID)
	}
	if e.hint != "" {
		b.WriteString(": " + e.hint)
	}
	return b.String()
}

// client sends requests. It never puts the token or the webhook URL in an
// error: the token travels only in the Authorization header, and network
// errors are scrubbed of both (see scrub).
type client struct {
	http    *http.Client
	base    string // API mode: endpoint without trailing slash
	token   string
	hookURL string // webhook mode
}

const (
	userAgent    = "slowspan-mattermost-exporter"
	maxBodyRead  = 64 << 10
	maxErrorText = 200
)

func (c *client) do(ctx context.Context, method, rawURL, op, contentType string, body []byte, out any) error {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, rawURL, rd)
	if err != nil {
		return c.scrub(fmt.Errorf("mattermost: %s: %w", op, err))
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", userAgent)
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return c.scrub(fmt.Errorf("mattermost: %s: %w", op, err))
	}
	defer func() { _ = resp.Body.Close() }() // read to the limit above; nothing to report on close
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxBodyRead))
	if err != nil {
		return c.scrub(fmt.Errorf("mattermost: %s: reading the answer: %w", op, err))
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return c.statusError(op, resp, data)
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			return fmt.Errorf("mattermost: %s: HTTP %d with a body that is not the expected JSON (is endpoint a Mattermost server?): %w", op, resp.StatusCode, err)
		}
	}
	return nil
}

func (c *client) statusError(op string, resp *http.Response, data []byte) *statusError {
	e := &statusError{op: op, status: resp.StatusCode, requestID: resp.Header.Get("X-Request-Id")}
	var ae appError
	if strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") && json.Unmarshal(data, &ae) == nil && ae.ID != "" {
		e.id = ae.ID
		e.message = oneLine(ae.Message)
		if e.requestID == "" {
			e.requestID = ae.RequestID
		}
	} else if len(data) > 0 && !strings.Contains(resp.Header.Get("Content-Type"), "html") {
		e.message = oneLine(string(data))
	}
	if resp.StatusCode == http.StatusTooManyRequests {
		e.retryAfter = retryDelay(resp.Header)
	}
	e.message = c.scrubString(e.message)
	return e
}

// retryDelay reads Retry-After (seconds or an HTTP date), then
// X-RateLimit-Reset (seconds until the bucket is full, PROTOCOL.md section 9).
func retryDelay(h http.Header) time.Duration {
	if v := strings.TrimSpace(h.Get("Retry-After")); v != "" {
		if s, err := strconv.Atoi(v); err == nil && s >= 0 {
			return capDelay(time.Duration(s) * time.Second)
		}
		if t, err := http.ParseTime(v); err == nil {
			return capDelay(time.Until(t))
		}
	}
	if v := strings.TrimSpace(h.Get("X-RateLimit-Reset")); v != "" {
		if s, err := strconv.ParseInt(v, 10, 64); err == nil && s >= 0 {
			if s > 1e9 { // an epoch, as the spec's table claims
				return capDelay(time.Until(time.Unix(s, 0)))
			}
			return capDelay(time.Duration(s) * time.Second)
		}
	}
	return 0
}

func capDelay(d time.Duration) time.Duration {
	switch {
	case d < 0:
		return 0
	case d > 10*time.Minute:
		return 10 * time.Minute
	}
	return d
}

func oneLine(s string) string {
	s = strings.Join(strings.Fields(strings.ToValidUTF8(s, "\uFFFD")), " ")
	if utf8.RuneCountInString(s) > maxErrorText {
		s = string([]rune(s)[:maxErrorText]) + "…"
	}
	return s
}

// scrub removes the token and the webhook URL (and its key) from err's text.
// A network error (*url.Error) names the URL, which in webhook mode is the
// secret.
func (c *client) scrub(err error) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	clean := c.scrubString(msg)
	if clean == msg {
		return err
	}
	return scrubbedError{msg: clean, cause: err}
}

// scrubbedError keeps errors.Is for context errors (a timeout stays a
// timeout) but never prints its cause.
type scrubbedError struct {
	msg   string
	cause error
}

func (e scrubbedError) Error() string { return e.msg }
func (e scrubbedError) Is(target error) bool {
	return errors.Is(e.cause, target)
}

func (c *client) scrubString(s string) string {
	if c.hookURL != "" {
		s = strings.ReplaceAll(s, c.hookURL, redactedHookURL(c.hookURL))
		if u, err := url.Parse(c.hookURL); err == nil {
			if i := strings.LastIndex(u.Path, "/"); i >= 0 && len(u.Path)-i > 4 {
				s = strings.ReplaceAll(s, u.Path[i+1:], "[REDACTED]")
			}
		}
	}
	if len(c.token) >= 4 {
		s = strings.ReplaceAll(s, c.token, "[REDACTED]")
	}
	return s
}

// redactedHookURL shows where a webhook goes without its key.
func redactedHookURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return "[REDACTED]"
	}
	return u.Scheme + "://" + u.Host + "/hooks/[REDACTED]"
}

// API calls.

func (c *client) me(ctx context.Context) (user, error) {
	var u user
	err := c.do(ctx, http.MethodGet, c.base+"/api/v4/users/me", "GET /api/v4/users/me", "", nil, &u)
	return u, err
}

func (c *client) channel(ctx context.Context, id string) (channel, error) {
	var ch channel
	err := c.do(ctx, http.MethodGet, c.base+"/api/v4/channels/"+url.PathEscape(id), "GET /api/v4/channels/{channel_id}", "", nil, &ch)
	return ch, err
}

func (c *client) createPost(ctx context.Context, req createPostRequest) (post, error) {
	body, err := json.Marshal(req)
	if err != nil {
		return post{}, err
	}
	var p post
	err = c.do(ctx, http.MethodPost, c.base+"/api/v4/posts", "POST /api/v4/posts", "application/json", body, &p)
	return p, err
}

// patchPost edits a post in place (PROTOCOL.md section 12): 200 with the
// whole post; 403 for a deleted or unknown post; 400
// errEditTimeLimit when the post is older than PostEditTimeLimit.
func (c *client) patchPost(ctx context.Context, postID string, req patchPostRequest) (post, error) {
	body, err := json.Marshal(req)
	if err != nil {
		return post{}, err
	}
	var p post
	err = c.do(ctx, http.MethodPut, c.base+"/api/v4/posts/"+url.PathEscape(postID)+"/patch", "PUT /api/v4/posts/{post_id}/patch", "application/json", body, &p)
	return p, err
}

// uploadFiles sends files in one multipart request, channel_id first so the
// server streams (PROTOCOL.md section 6), and returns their ids.
func (c *client) uploadFiles(ctx context.Context, channelID string, files []upload) ([]string, error) {
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	if err := mw.WriteField("channel_id", channelID); err != nil {
		return nil, err
	}
	for _, f := range files {
		h := make(textproto.MIMEHeader)
		h.Set("Content-Disposition", fmt.Sprintf(`form-data; name="files"; filename=%q`, f.name))
		h.Set("Content-Type", f.contentType)
		w, err := mw.CreatePart(h)
		if err != nil {
			return nil, err
		}
		if _, err := w.Write(f.data); err != nil {
			return nil, err
		}
	}
	if err := mw.Close(); err != nil {
		return nil, err
	}
	var out uploadResponse
	if err := c.do(ctx, http.MethodPost, c.base+"/api/v4/files", "POST /api/v4/files", mw.FormDataContentType(), buf.Bytes(), &out); err != nil {
		return nil, err
	}
	ids := make([]string, 0, len(out.FileInfos))
	for _, fi := range out.FileInfos {
		if fi.ID != "" {
			ids = append(ids, fi.ID)
		}
	}
	return ids, nil
}

func (c *client) postWebhook(ctx context.Context, req webhookRequest) error {
	body, err := json.Marshal(req)
	if err != nil {
		return err
	}
	return c.do(ctx, http.MethodPost, c.hookURL, "POST /hooks/{key}", "application/json", body, nil)
}
