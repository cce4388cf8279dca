package mattermostfake

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"unicode/utf8"
)

var hookKeyRe = regexp.MustCompile(`^[A-Za-z0-9]+$`)

// webhookRequest is model.IncomingWebhookRequest.
type webhookRequest struct {
	Text        string           `json:"text"`
	Username    string           `json:"username"`
	IconURL     string           `json:"icon_url"`
	ChannelName string           `json:"channel"`
	Props       map[string]any   `json:"props"`
	Attachments []map[string]any `json:"attachments"`
	Type        string           `json:"type"`
	IconEmoji   string           `json:"icon_emoji"`
}

// decodeWebhookJSON decodes strictly, then retries after escaping raw
// newlines and tabs inside strings, as the server does for sloppy clients
// (the server limits the retry to a few keys; the fake escapes in every
// string).
func decodeWebhookJSON(data []byte) (*webhookRequest, bool) {
	var req webhookRequest
	if err := json.Unmarshal(data, &req); err == nil {
		return &req, true
	}
	var b strings.Builder
	inString, escaped := false, false
	for _, c := range string(data) {
		switch {
		case escaped:
			escaped = false
		case c == '\\' && inString:
			escaped = true
		case c == '"':
			inString = !inString
		case inString && c == '\n':
			b.WriteString(`\n`)
			continue
		case inString && c == '\t':
			b.WriteString(`\t`)
			continue
		}
		b.WriteRune(c)
	}
	if err := json.Unmarshal([]byte(b.String()), &req); err != nil {
		return nil, false
	}
	return &req, true
}

// handleWebhook implements POST /hooks/{key} (exporter/mattermostexporter/PROTOCOL.md section 7).
func (s *Server) handleWebhook(w http.ResponseWriter, r *http.Request, key string, tooLarge bool) {
	var req *webhookRequest
	mediaType, params, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	body, _ := readAll(r)
	switch mediaType {
	case "", "application/json":
		var ok bool
		if req, ok = decodeWebhookJSON(body); !ok || tooLarge {
			// An oversized body is truncated by the reader and then fails
			// to decode: 400 parse_data, not 413 (section 7, inferred).
			writeAppError(w, http.StatusBadRequest, ErrHookParse, "")
			return
		}
	case "application/x-www-form-urlencoded":
		form, err := url.ParseQuery(string(body))
		var ok bool
		if err != nil || tooLarge {
			writeAppError(w, http.StatusBadRequest, ErrHookParse, "")
			return
		}
		if req, ok = decodeWebhookJSON([]byte(form.Get("payload"))); !ok {
			writeAppError(w, http.StatusBadRequest, ErrHookParse, "")
			return
		}
	case "multipart/form-data":
		req = &webhookRequest{}
		if err := parseMultipartHook(body, params["boundary"], req); err != nil || tooLarge {
			writeAppError(w, http.StatusBadRequest, ErrHookContentType, "")
			return
		}
	default:
		writeAppError(w, http.StatusBadRequest, ErrHookContentType, "")
		return
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	if s.hooksDisabled {
		writeAppError(w, http.StatusNotImplemented, ErrHookDisabled, "")
		return
	}
	hook, ok := s.hooks[key]
	if !ok {
		writeAppError(w, http.StatusBadRequest, ErrHookInvalid, "")
		return
	}
	if req.Text == "" && len(req.Attachments) == 0 {
		writeAppError(w, http.StatusBadRequest, ErrHookText, "")
		return
	}
	ch := s.channels[hook.ChannelID]
	if name := req.ChannelName; name != "" {
		switch {
		case strings.HasPrefix(name, "@"):
			var target *User
			for _, u := range s.users {
				if u.Username == name[1:] {
					target = &u
					break
				}
			}
			if target == nil {
				writeAppError(w, http.StatusBadRequest, ErrHookUser, "")
				return
			}
			ch = s.directChannel(target.ID)
		default:
			name = strings.TrimPrefix(name, "#")
			ch = nil
			for _, c := range s.channels {
				if c.Name == name {
					ch = c
				}
			}
			if ch == nil {
				writeAppError(w, http.StatusNotFound, ErrHookChannel, "")
				return
			}
		}
		if hook.Locked && ch.ID != hook.ChannelID {
			writeAppError(w, http.StatusForbidden, ErrHookChannelLocked, "")
			return
		}
	}
	if ch == nil || ch.Archived {
		writeAppError(w, http.StatusInternalServerError, ErrHookCreating, "")
		return
	}
	if strings.HasPrefix(req.Type, "system_") {
		writeAppError(w, http.StatusBadRequest, ErrInvalidParam, fmt.Sprintf(msgInvalidParamFmt, "type"))
		return
	}

	// Slack translation runs on webhook text only (section 7).
	byID := map[string]string{}
	for _, u := range s.users {
		byID[u.ID] = u.Username
	}
	text := ProcessSlackText(req.Text, byID)
	var attachments []any
	for _, a := range req.Attachments {
		for _, k := range []string{"pretext", "text", "title"} {
			if v, ok := a[k].(string); ok {
				a[k] = ProcessSlackText(v, byID)
			}
		}
		if fields, ok := a["fields"].([]any); ok {
			for _, f := range fields {
				if fm, ok := f.(map[string]any); ok && fm["value"] != nil {
					fm["value"] = ProcessSlackText(fmt.Sprint(fm["value"]), byID)
				}
			}
		}
		attachments = append(attachments, a)
	}

	props := map[string]any{}
	for k, v := range req.Props {
		switch k {
		case "from_webhook", "override_username", "override_icon_url", "add_channel_member", "force_notification":
		default:
			props[k] = v
		}
	}
	props["from_webhook"] = "true"
	props["webhook_display_name"] = hook.DisplayName
	if s.overrides && req.Username != "" {
		props["override_username"] = req.Username
	}
	if s.overrides && req.IconURL != "" {
		props["override_icon_url"] = req.IconURL
	}
	postType := req.Type
	if len(attachments) > 0 {
		postType = "slack_attachment"
	}

	// Long text becomes several posts (SplitWebhookPost); attachments
	// stay on the last one.
	chunks := splitRunes(text, s.maxPostSize)
	now := s.now().UnixMilli()
	for i, chunk := range chunks {
		pp := map[string]any{}
		for k, v := range props {
			pp[k] = v
		}
		t := req.Type
		if i == len(chunks)-1 && len(attachments) > 0 {
			pp["attachments"] = attachments
			t = postType
		}
		ms := s.mentionsForPost(chunk, pp)
		notified := !(ms.ChannelWide() && ch.NoChannelMentions)
		p := &Post{
			ID: NewID(), CreateAt: now, UpdateAt: now, UserID: hook.ID(), ChannelID: ch.ID,
			Message: chunk, Type: t, Props: pp, FileIDs: []string{},
			Mentions: ms, Notified: notified, FromWebhook: true,
		}
		s.store(p)
	}
	w.Header().Set("Content-Type", "text/plain")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write([]byte("ok"))
}

// ID is the user id the fake records as author of webhook posts.
func (h Webhook) ID() string { return "webhook" + strings.ToLower(h.Key) }

func (s *Server) directChannel(userID string) *Channel {
	id := "dm" + userID
	if len(id) > 26 {
		id = id[:26]
	}
	if c, ok := s.channels[id]; ok {
		return c
	}
	c := &Channel{ID: id, TeamID: "", Name: s.bot.ID + "__" + userID, Type: "D"}
	s.channels[id] = c
	return c
}

func splitRunes(s string, n int) []string {
	if utf8.RuneCountInString(s) <= n {
		return []string{s}
	}
	var out []string
	r := []rune(s)
	for len(r) > n {
		out = append(out, string(r[:n]))
		r = r[n:]
	}
	return append(out, string(r))
}

func readAll(r *http.Request) ([]byte, error) {
	var b strings.Builder
	_, err := io.Copy(&b, r.Body)
	return []byte(b.String()), err
}

// parseMultipartHook reads form fields by name, as the server's schema
// decoder does.
func parseMultipartHook(body []byte, boundary string, req *webhookRequest) error {
	mr := multipart.NewReader(bytes.NewReader(body), boundary)
	form, err := mr.ReadForm(1 << 20)
	if err != nil {
		return err
	}
	defer func() { _ = form.RemoveAll() }()
	get := func(k string) string {
		if v := form.Value[k]; len(v) > 0 {
			return v[0]
		}
		return ""
	}
	req.Text, req.Username, req.IconURL = get("text"), get("username"), get("icon_url")
	req.ChannelName, req.Type, req.IconEmoji = get("channel"), get("type"), get("icon_emoji")
	return nil
}
