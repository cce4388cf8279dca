package mattermostfake

import (
	"encoding/json"
	"fmt"
	"net/http"
	"time"
	"unicode/utf8"
)

// ErrEditTimeLimit answers a patch of the message of a post older than
// ServiceSettings.PostEditTimeLimit (exporter/mattermostexporter/PROTOCOL.md
// section 12).
const ErrEditTimeLimit = "api.post.update_post.permissions_time_limit.app_error"

func init() {
	messages[ErrEditTimeLimit] = "Post edit is only allowed for {{.timeLimit}} seconds. Please ask your System Administrator for details."
}

// patchPostRequest is model.PostPatch: a nil field is left unchanged.
// https://developers.mattermost.com/api-documentation/#/operations/PatchPost
type patchPostRequest struct {
	IsPinned     *bool           `json:"is_pinned"`
	Message      *string         `json:"message"`
	Props        *map[string]any `json:"props"`
	FileIDs      *[]string       `json:"file_ids"`
	HasReactions *bool           `json:"has_reactions"`
}

// handlePatchPost is PUT /api/v4/posts/{post_id}/patch (section 12): the
// fields given are applied and the whole post is answered. An unknown or
// deleted post, or another user's (the fake has no edit_others_posts), is a
// permission failure, as on the real server.
func (s *Server) handlePatchPost(w http.ResponseWriter, r *http.Request, id string) {
	user, ok := s.session(w, r)
	if !ok {
		return
	}
	if !IsValidID(id) {
		writeAppError(w, http.StatusBadRequest, ErrInvalidURLParam, fmt.Sprintf(msgInvalidURLParamFmt, "post_id"))
		return
	}
	var req patchPostRequest
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		writeAppError(w, http.StatusBadRequest, ErrInvalidBodyParam, fmt.Sprintf(msgInvalidBodyFmt, "patch"))
		return
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	p, found := s.postsByID[id]
	if !found || p.DeleteAt != 0 || p.UserID != user.ID {
		writeAppError(w, http.StatusForbidden, ErrPermissions, "")
		return
	}
	now := s.now()
	if req.Message != nil && s.editTimeLimit > 0 && now.Sub(time.UnixMilli(p.CreateAt)) > s.editTimeLimit {
		writeAppError(w, http.StatusBadRequest, ErrEditTimeLimit, "")
		return
	}
	if req.Message != nil && utf8.RuneCountInString(*req.Message) > s.maxPostSize {
		writeAppError(w, http.StatusBadRequest, ErrMessageLength, "")
		return
	}
	if req.Props != nil {
		if b, _ := json.Marshal(*req.Props); utf8.RuneCount(b) > postPropsMaxRunes {
			writeAppError(w, http.StatusBadRequest, ErrPropsLength, "")
			return
		}
	}
	if req.FileIDs != nil {
		if b, _ := json.Marshal(*req.FileIDs); utf8.RuneCount(b) > postFileIDsMaxRunes {
			writeAppError(w, http.StatusBadRequest, ErrFileIDsLength, "")
			return
		}
	}

	if req.IsPinned != nil {
		p.IsPinned = *req.IsPinned
	}
	if req.HasReactions != nil {
		p.HasReactions = *req.HasReactions
	}
	if req.Props != nil {
		props := map[string]any{}
		for k, v := range *req.Props {
			switch k {
			case "add_channel_member", "force_notification":
			default:
				props[k] = v
			}
		}
		if user.IsBot {
			props["from_bot"] = "true"
		}
		p.Props = props
	}
	if req.FileIDs != nil {
		// As on create: files that cannot be attached are dropped.
		ids := []string{}
		for _, fid := range *req.FileIDs {
			if f, ok := s.files[fid]; ok && (f.PostID == "" || f.PostID == p.ID) && f.UserID == user.ID && f.ChannelID == p.ChannelID {
				f.PostID = p.ID
				ids = append(ids, fid)
			}
		}
		p.FileIDs = ids
	}
	if req.Message != nil {
		p.Message = *req.Message
		// The mention rules apply to the new text; a real server notifies
		// only new mentions, which the fake does not model.
		p.Mentions = s.mentionsForPost(p.Message, p.Props)
		p.Notified = !(p.Mentions.ChannelWide() && s.channels[p.ChannelID] != nil && s.channels[p.ChannelID].NoChannelMentions)
		p.EditAt = now.UnixMilli()
		p.Edits++
	}
	p.UpdateAt = now.UnixMilli()
	writeJSON(w, http.StatusOK, p)
}
