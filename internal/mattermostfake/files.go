package mattermostfake

import (
	"bytes"
	"errors"
	"fmt"
	"image"
	_ "image/gif" // image sizes in FileInfo
	_ "image/jpeg"
	_ "image/png"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"path"
	"strings"
)

// StoredFile is an uploaded file and its FileInfo fields.
type StoredFile struct {
	ID         string `json:"id"`
	UserID     string `json:"user_id"`
	ChannelID  string `json:"-"`
	PostID     string `json:"post_id"`
	CreateAt   int64  `json:"create_at"`
	UpdateAt   int64  `json:"update_at"`
	DeleteAt   int64  `json:"delete_at"`
	Name       string `json:"name"`
	Extension  string `json:"extension"`
	Size       int64  `json:"size"`
	MimeType   string `json:"mime_type"`
	Width      int    `json:"width"`
	Height     int    `json:"height"`
	HasPreview bool   `json:"has_preview_image"`
	Data       []byte `json:"-"`
}

// handleUpload implements POST /api/v4/files (exporter/mattermostexporter/PROTOCOL.md section 6):
// multipart (channel_id, files, client_ids) or a raw body with
// ?channel_id=&filename=.
func (s *Server) handleUpload(w http.ResponseWriter, r *http.Request) {
	user, ok := s.session(w, r)
	if !ok {
		return
	}
	s.mu.Lock()
	disabled := s.uploadsDisabled
	s.mu.Unlock()
	if disabled {
		writeAppError(w, http.StatusForbidden, ErrFilesDisabled, "")
		return
	}
	if r.ContentLength == 0 {
		writeAppError(w, http.StatusBadRequest, ErrFileReadRequest, "")
		return
	}
	type part struct {
		name string
		data []byte
	}
	channelID := r.URL.Query().Get("channel_id")
	var parts []part
	var clientIDs []string
	mediaType, params, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if mediaType == "multipart/form-data" {
		mr := multipart.NewReader(r.Body, params["boundary"])
		for {
			p, err := mr.NextPart()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				writeAppError(w, http.StatusBadRequest, ErrFileReadRequest, "")
				return
			}
			data, _ := io.ReadAll(p)
			switch {
			case p.FileName() != "":
				parts = append(parts, part{name: p.FileName(), data: data})
			case p.FormName() == "channel_id":
				v := string(data)
				if channelID != "" && v != channelID {
					writeAppError(w, http.StatusBadRequest, ErrFileChannelIDs, "")
					return
				}
				channelID = v
			case p.FormName() == "client_ids":
				clientIDs = append(clientIDs, string(data))
			default:
				writeAppError(w, http.StatusBadRequest, ErrInvalidParam, fmt.Sprintf(msgInvalidParamFmt, p.FormName()))
				return
			}
		}
	} else {
		name := r.URL.Query().Get("filename")
		if name == "" || channelID == "" {
			writeAppError(w, http.StatusBadRequest, ErrInvalidParam, fmt.Sprintf(msgInvalidParamFmt, "filename"))
			return
		}
		data, _ := io.ReadAll(r.Body)
		parts = append(parts, part{name: name, data: data})
	}
	if !IsValidID(channelID) {
		writeAppError(w, http.StatusBadRequest, ErrInvalidParam, fmt.Sprintf(msgInvalidParamFmt, "channel_id"))
		return
	}
	if len(parts) == 0 {
		writeAppError(w, http.StatusBadRequest, ErrFileNoFiles, "")
		return
	}
	if len(clientIDs) != 0 && len(clientIDs) != len(parts) {
		writeAppError(w, http.StatusBadRequest, ErrFileClientIDs, "")
		return
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	ch, found := s.channels[channelID]
	if !found || ch.NoPost {
		writeAppError(w, http.StatusForbidden, ErrPermissions, "")
		return
	}
	for _, p := range parts {
		if int64(len(p.data)) > s.maxFileSize {
			writeAppError(w, http.StatusRequestEntityTooLarge, ErrFileTooLarge, "")
			return
		}
	}
	now := s.now().UnixMilli()
	infos := []*StoredFile{}
	for _, p := range parts {
		name := path.Base(strings.ReplaceAll(p.name, "\\", "/"))
		ext := strings.ToLower(strings.TrimPrefix(path.Ext(name), "."))
		mt := mime.TypeByExtension("." + ext)
		if mt == "" {
			mt = http.DetectContentType(p.data)
		}
		f := &StoredFile{
			ID: NewID(), UserID: user.ID, ChannelID: ch.ID, CreateAt: now, UpdateAt: now,
			Name: name, Extension: ext, Size: int64(len(p.data)), MimeType: mt, Data: p.data,
		}
		if cfg, _, err := image.DecodeConfig(bytes.NewReader(p.data)); err == nil {
			f.Width, f.Height, f.HasPreview = cfg.Width, cfg.Height, true
		}
		s.files[f.ID] = f
		infos = append(infos, f)
	}
	if clientIDs == nil {
		clientIDs = []string{}
	}
	writeJSON(w, http.StatusCreated, map[string]any{"file_infos": infos, "client_ids": clientIDs})
}
