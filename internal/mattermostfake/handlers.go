package mattermostfake

import (
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"strings"
	"unicode/utf8"
)

// Post is the Post JSON of a real server (exporter/mattermostexporter/PROTOCOL.md section 4, 201 body).
type Post struct {
	ID            string         `json:"id"`
	CreateAt      int64          `json:"create_at"`
	UpdateAt      int64          `json:"update_at"`
	EditAt        int64          `json:"edit_at"`
	DeleteAt      int64          `json:"delete_at"`
	IsPinned      bool           `json:"is_pinned"`
	UserID        string         `json:"user_id"`
	ChannelID     string         `json:"channel_id"`
	RootID        string         `json:"root_id"`
	OriginalID    string         `json:"original_id"`
	Message       string         `json:"message"`
	Type          string         `json:"type"`
	Props         map[string]any `json:"props"`
	Hashtags      string         `json:"hashtags"`
	FileIDs       []string       `json:"file_ids"`
	PendingPostID string         `json:"pending_post_id"`
	ReplyCount    int64          `json:"reply_count"`
	LastReplyAt   int64          `json:"last_reply_at"`
	Participants  []any          `json:"participants"`
	HasReactions  bool           `json:"has_reactions,omitempty"`

	// Mentions is what a real server's parser finds in the message and
	// the attachments (section 10), whatever the permissions.
	Mentions Mentions `json:"-"`
	// Notified is false when channel-wide mentions were found but the
	// author lacks use_channel_mentions (Channel.NoChannelMentions).
	Notified bool `json:"-"`
	// FromWebhook marks posts created by /hooks/{key}.
	FromWebhook bool `json:"-"`
	// Edits counts the patches that changed the message (section 12).
	Edits int `json:"-"`
}

func (p *Post) clone() Post {
	c := *p
	c.Props = maps.Clone(p.Props)
	c.FileIDs = append([]string{}, p.FileIDs...)
	c.Mentions.Users = append([]string(nil), p.Mentions.Users...)
	c.Mentions.Others = append([]string(nil), p.Mentions.Others...)
	return c
}

func (s *Server) handlePing(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	unhealthy := s.unhealthy
	s.mu.Unlock()
	status := "OK"
	code := http.StatusOK
	if unhealthy {
		status = "UNHEALTHY"
		if r.URL.Query().Get("use_rest_semantics") != "true" {
			code = http.StatusInternalServerError
		}
	}
	body := map[string]any{
		"status":               status,
		"AndroidLatestVersion": "",
		"AndroidMinVersion":    "",
		"IosLatestVersion":     "",
		"IosMinVersion":        "",
		"ActiveSearchBackend":  "database",
	}
	if r.URL.Query().Get("get_server_status") == "true" {
		body["database_status"], body["filestore_status"] = status, status
	}
	writeJSON(w, code, body)
}

func userJSON(u User) map[string]any {
	m := map[string]any{
		"id": u.ID, "create_at": 0, "update_at": 0, "delete_at": 0,
		"username": u.Username, "first_name": "", "last_name": "", "nickname": "",
		"email": "", "auth_service": "", "roles": u.Roles, "locale": "en",
		// timezone is left out: the server sends useAutomaticTimezone as a
		// string, the spec's Timezone schema says boolean.
		"notify_props": map[string]any{"channel": "true", "mention_keys": ""},
	}
	if m["roles"] == "" {
		m["roles"] = "system_user"
	}
	if u.IsBot {
		m["is_bot"] = true
		m["bot_description"] = "slow request alerts"
	}
	return m
}

func (s *Server) handleUser(w http.ResponseWriter, r *http.Request, id string) {
	me, ok := s.session(w, r)
	if !ok {
		return
	}
	if id == "me" {
		id = me.ID
	}
	if !IsValidID(id) {
		writeAppError(w, http.StatusBadRequest, ErrInvalidURLParam, fmt.Sprintf(msgInvalidURLParamFmt, "user_id"))
		return
	}
	s.mu.Lock()
	u, found := s.users[id]
	s.mu.Unlock()
	if !found {
		writeAppError(w, http.StatusNotFound, ErrUserNotFound, "")
		return
	}
	writeJSON(w, http.StatusOK, userJSON(u))
}

func channelJSON(c *Channel) map[string]any {
	var deleteAt int64
	if c.Archived {
		deleteAt = 1700000000000
	}
	return map[string]any{
		"id": c.ID, "create_at": 1600000000000, "update_at": 1600000000000, "delete_at": deleteAt,
		"team_id": c.TeamID, "type": c.Type, "display_name": c.DisplayName, "name": c.Name,
		"header": "", "purpose": "", "last_post_at": 0, "total_msg_count": 0,
		"extra_update_at": 0, "creator_id": "",
	}
}

func (s *Server) handleChannel(w http.ResponseWriter, r *http.Request, id string) {
	if _, ok := s.session(w, r); !ok {
		return
	}
	if !IsValidID(id) {
		writeAppError(w, http.StatusBadRequest, ErrInvalidURLParam, fmt.Sprintf(msgInvalidURLParamFmt, "channel_id"))
		return
	}
	s.mu.Lock()
	c, found := s.channels[id]
	var cj map[string]any
	if found {
		cj = channelJSON(c)
	}
	noRead := found && c.NoRead
	s.mu.Unlock()
	switch {
	case !found:
		// Existence is checked before permission (section 3).
		writeAppError(w, http.StatusNotFound, ErrChannelNotFound, "")
	case noRead:
		writeAppError(w, http.StatusForbidden, ErrPermissions, "")
	default:
		writeJSON(w, http.StatusOK, cj)
	}
}

type createPostRequest struct {
	ChannelID     string         `json:"channel_id"`
	Message       string         `json:"message"`
	RootID        string         `json:"root_id"`
	FileIDs       []string       `json:"file_ids"`
	Props         map[string]any `json:"props"`
	PendingPostID string         `json:"pending_post_id"`
	Type          string         `json:"type"`
	Metadata      *struct {
		Priority *struct {
			Priority                *string `json:"priority"`
			RequestedAck            *bool   `json:"requested_ack"`
			PersistentNotifications *bool   `json:"persistent_notifications"`
		} `json:"priority"`
	} `json:"metadata"`
}

const (
	postPropsMaxRunes   = 800000
	postFileIDsMaxRunes = 300
)

func (s *Server) handleCreatePost(w http.ResponseWriter, r *http.Request) {
	user, ok := s.session(w, r)
	if !ok {
		return
	}
	var req createPostRequest
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		writeAppError(w, http.StatusBadRequest, ErrInvalidBodyParam, fmt.Sprintf(msgInvalidBodyFmt, "post"))
		return
	}
	if m := req.Metadata; m != nil && m.Priority != nil {
		// Priority needs a Professional licence, which the fake does not have.
		writeAppError(w, http.StatusNotImplemented, "license_error.feature_unavailable", "Feature unavailable.")
		return
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	ch, found := s.channels[req.ChannelID]
	if !found || ch.NoPost {
		// Garbage and unknown ids are a permission failure, not 404.
		writeAppError(w, http.StatusForbidden, ErrPermissions, "")
		return
	}
	if ch.Archived {
		writeAppError(w, http.StatusBadRequest, ErrDeletedChannel, "")
		return
	}
	if strings.HasPrefix(req.Type, "system_") {
		writeAppError(w, http.StatusBadRequest, ErrInvalidParam, fmt.Sprintf(msgInvalidParamFmt, "post.type"))
		return
	}
	now := s.now()
	if req.PendingPostID != "" {
		if e, ok := s.pending[req.PendingPostID]; ok && now.Sub(e.at) < PendingPostIDTTL {
			writeJSON(w, http.StatusCreated, s.postsByID[e.postID])
			return
		}
	}
	if req.RootID != "" {
		root, ok := s.postsByID[req.RootID]
		switch {
		case !ok || root.RootID != "" || root.DeleteAt != 0:
			writeAppError(w, http.StatusBadRequest, ErrRootID, "")
			return
		case root.ChannelID != req.ChannelID:
			writeAppError(w, http.StatusBadRequest, ErrChannelRootID, "")
			return
		}
	}
	if n := utf8.RuneCountInString(req.Message); n > s.maxPostSize {
		writeAppError(w, http.StatusBadRequest, ErrMessageLength, "")
		return
	}
	if b, _ := json.Marshal(req.Props); req.Props != nil && utf8.RuneCount(b) > postPropsMaxRunes {
		writeAppError(w, http.StatusBadRequest, ErrPropsLength, "")
		return
	}
	if b, _ := json.Marshal(req.FileIDs); req.FileIDs != nil && utf8.RuneCount(b) > postFileIDsMaxRunes {
		writeAppError(w, http.StatusBadRequest, ErrFileIDsLength, "")
		return
	}

	props := map[string]any{}
	for k, v := range req.Props {
		switch k {
		case "add_channel_member", "force_notification":
		default:
			props[k] = v
		}
	}
	if user.IsBot {
		props["from_bot"] = "true"
	}
	ms := s.mentionsForPost(req.Message, props)
	notified := true
	if ms.ChannelWide() && ch.NoChannelMentions {
		props["mentionHighlightDisabled"] = true
		notified = false
	}
	p := &Post{
		ID: NewID(), CreateAt: now.UnixMilli(), UpdateAt: now.UnixMilli(),
		UserID: user.ID, ChannelID: ch.ID, RootID: req.RootID, Message: req.Message,
		Type: req.Type, Props: props, PendingPostID: req.PendingPostID,
		FileIDs: []string{}, Mentions: ms, Notified: notified,
	}
	// Files that cannot be attached are dropped silently (section 4).
	for _, id := range req.FileIDs {
		if f, ok := s.files[id]; ok && f.PostID == "" && f.UserID == user.ID && f.ChannelID == ch.ID {
			f.PostID = p.ID
			p.FileIDs = append(p.FileIDs, id)
		}
	}
	s.store(p)
	if req.PendingPostID != "" {
		s.pending[req.PendingPostID] = pendingEntry{postID: p.ID, at: now}
	}
	writeJSON(w, http.StatusCreated, p)
}

func (s *Server) store(p *Post) {
	s.posts = append(s.posts, p)
	s.postsByID[p.ID] = p
	if p.RootID != "" {
		if root := s.postsByID[p.RootID]; root != nil {
			root.ReplyCount++
			root.LastReplyAt = p.CreateAt
		}
	}
}

// mentionsForPost scans the message and, in props.attachments, pretext,
// text and string field values (getMentionsEnabledFields). Caller holds mu.
func (s *Server) mentionsForPost(message string, props map[string]any) Mentions {
	names := s.usernames()
	m := DetectMentions(message, names)
	for _, f := range attachmentMentionFields(props["attachments"]) {
		m.merge(DetectMentions(f, names))
	}
	return m
}

func attachmentMentionFields(v any) []string {
	list, _ := v.([]any)
	var out []string
	for _, a := range list {
		am, _ := a.(map[string]any)
		for _, k := range []string{"pretext", "text"} {
			if s, ok := am[k].(string); ok && s != "" {
				out = append(out, s)
			}
		}
		fields, _ := am["fields"].([]any)
		for _, f := range fields {
			fm, _ := f.(map[string]any)
			if s, ok := fm["value"].(string); ok && s != "" {
				out = append(out, s)
			}
		}
	}
	return out
}
