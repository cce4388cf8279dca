package mattermostfake

import (
	"bytes"
	"encoding/json"
	"mime/multipart"
	"net/http"
	"strings"
	"testing"
	"time"
)

// Sections 1 and 3 of exporter/mattermostexporter/PROTOCOL.md: credentials and start-up checks.
func TestUsersAndChannels(t *testing.T) {
	s := newFake(t)
	u := s.URL() + "/api/v4"
	for _, tc := range []struct {
		name, path, tok string
		status          int
		errID           string
	}{
		{"me without token", "/users/me", "", 401, ErrSessionExpired},
		{"me with bad token", "/users/me", "nope", 401, ErrSessionExpired},
		{"me", "/users/me", token, 200, ""},
		{"user by id", "/users/a11ce0000000000000000000aa", token, 200, ""},
		{"user bad id", "/users/junk", token, 400, ErrInvalidURLParam},
		{"user unknown", "/users/" + unknownID, token, 404, ErrUserNotFound},
		{"channel", "/channels/" + chanID, token, 200, ""},
		{"channel archived still readable", "/channels/" + archivedID, token, 200, ""},
		{"channel bad id", "/channels/junk", token, 400, ErrInvalidURLParam},
		{"channel unknown is 404 here", "/channels/" + unknownID, token, 404, ErrChannelNotFound},
		{"channel without token", "/channels/" + chanID, "", 401, ErrSessionExpired},
		{"ping ignores bad token", "/system/ping", "nope", 200, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := do(t, "GET", u+tc.path, tc.tok, "", nil)
			if r.status != tc.status {
				t.Fatalf("status %d, want %d: %s", r.status, tc.status, r)
			}
			if r.header.Get("Expires") != "0" {
				t.Fatal("GET without Expires: 0")
			}
			if tc.errID != "" {
				if e := r.appError(t); e.ID != tc.errID {
					t.Fatalf("id %q, want %q", e.ID, tc.errID)
				}
			}
		})
	}
	r := do(t, "GET", u+"/users/me", token, "", nil)
	var me map[string]any
	_ = json.Unmarshal(r.body, &me)
	if me["is_bot"] != true || me["username"] != "slowspan-bot" {
		t.Fatalf("users/me = %s", r.body)
	}
	var ch map[string]any
	_ = json.Unmarshal(do(t, "GET", u+"/channels/"+archivedID, token, "", nil).body, &ch)
	if ch["delete_at"].(float64) == 0 {
		t.Fatal("archived channel has delete_at 0")
	}
	noViolations(t, s)
}

func TestAuthSchemes(t *testing.T) {
	s := newFake(t)
	get := func(set func(*http.Request)) int {
		req, _ := http.NewRequest("GET", s.URL()+"/api/v4/users/me", nil)
		set(req)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_ = res.Body.Close()
		return res.StatusCode
	}
	for name, tc := range map[string]struct {
		set  func(*http.Request)
		want int
	}{
		"bearer lower-case": {func(r *http.Request) { r.Header.Set("Authorization", "bearer "+token) }, 200},
		"Token scheme":      {func(r *http.Request) { r.Header.Set("Authorization", "Token "+token) }, 200},
		"cookie wins over header": {func(r *http.Request) {
			r.Header.Set("Authorization", "Bearer "+token)
			r.AddCookie(&http.Cookie{Name: "MMAUTHTOKEN", Value: "bad"})
		}, 401},
		"access_token query": {func(r *http.Request) { r.URL.RawQuery = "access_token=" + token }, 401},
	} {
		if got := get(tc.set); got != tc.want {
			t.Errorf("%s: %d, want %d", name, got, tc.want)
		}
	}
}

func TestPing(t *testing.T) {
	s := newFake(t)
	r := do(t, "GET", s.URL()+"/api/v4/system/ping", "", "", nil)
	if r.status != 200 || !strings.Contains(string(r.body), `"status":"OK"`) {
		t.Fatalf("ping: %d %s", r.status, r)
	}
	s.SetUnhealthy(true)
	if r := do(t, "GET", s.URL()+"/api/v4/system/ping", "", "", nil); r.status != 500 {
		t.Fatalf("unhealthy ping: %d", r.status)
	}
	if r := do(t, "GET", s.URL()+"/api/v4/system/ping?use_rest_semantics=true", "", "", nil); r.status != 200 || !strings.Contains(string(r.body), "UNHEALTHY") {
		t.Fatalf("unhealthy ping with rest semantics: %d %s", r.status, r)
	}
	noViolations(t, s)
}

func createPost(t *testing.T, s *Server, body any) resp {
	t.Helper()
	return do(t, "POST", s.URL()+"/api/v4/posts", token, "application/json", mustJSON(body))
}

// Section 4: the error classes of POST /api/v4/posts.
func TestCreatePostErrorClasses(t *testing.T) {
	s := newFake(t, WithStrict(false))
	root := createPost(t, s, map[string]any{"channel_id": chanID, "message": "root"})
	var rootPost Post
	_ = json.Unmarshal(root.body, &rootPost)
	reply := createPost(t, s, map[string]any{"channel_id": chanID, "message": "reply", "root_id": rootPost.ID})
	var replyPost Post
	_ = json.Unmarshal(reply.body, &replyPost)

	for _, tc := range []struct {
		name   string
		tok    string
		body   []byte
		status int
		errID  string
	}{
		{"created", token, mustJSON(map[string]any{"channel_id": chanID, "message": "hi"}), 201, ""},
		{"no token", "", mustJSON(map[string]any{"channel_id": chanID, "message": "hi"}), 401, ErrSessionExpired},
		{"bad token", "x", mustJSON(map[string]any{"channel_id": chanID, "message": "hi"}), 401, ErrSessionExpired},
		{"not JSON", token, []byte("{nope"), 400, ErrInvalidBodyParam},
		{"garbage channel is 403", token, mustJSON(map[string]any{"channel_id": "junk", "message": "hi"}), 403, ErrPermissions},
		{"unknown channel is 403 not 404", token, mustJSON(map[string]any{"channel_id": unknownID, "message": "hi"}), 403, ErrPermissions},
		{"archived", token, mustJSON(map[string]any{"channel_id": archivedID, "message": "hi"}), 400, ErrDeletedChannel},
		{"system type", token, mustJSON(map[string]any{"channel_id": chanID, "message": "hi", "type": "system_join"}), 400, ErrInvalidParam},
		{"unknown root", token, mustJSON(map[string]any{"channel_id": chanID, "message": "hi", "root_id": unknownID}), 400, ErrRootID},
		{"root is a reply", token, mustJSON(map[string]any{"channel_id": chanID, "message": "hi", "root_id": replyPost.ID}), 400, ErrRootID},
		{"message at limit", token, mustJSON(map[string]any{"channel_id": chanID, "message": strings.Repeat("é", DefaultMaxPostSize)}), 201, ""},
		{"message over limit (runes)", token, mustJSON(map[string]any{"channel_id": chanID, "message": strings.Repeat("é", DefaultMaxPostSize+1)}), 400, ErrMessageLength},
		{"eleven file ids", token, mustJSON(map[string]any{"channel_id": chanID, "message": "hi", "file_ids": strings.Split(strings.Repeat(unknownID+",", 11)[:11*27-1], ",")}), 400, ErrFileIDsLength},
		{"body over MaximumPayloadSizeBytes", token, mustJSON(map[string]any{"channel_id": chanID, "message": "hi", "props": map[string]any{"x": strings.Repeat("a", DefaultMaximumPayloadSizeBytes+512)}}), 413, ErrBodyTooLarge},
		{"attachments accepted", token, mustJSON(map[string]any{"channel_id": chanID, "message": "hi", "props": map[string]any{"attachments": []any{map[string]any{"text": "t", "color": "danger"}}}}), 201, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := do(t, "POST", s.URL()+"/api/v4/posts", tc.tok, "application/json", tc.body)
			if r.status != tc.status {
				t.Fatalf("status %d, want %d: %s", r.status, tc.status, r)
			}
			if tc.errID != "" {
				if e := r.appError(t); e.ID != tc.errID {
					t.Fatalf("id %q, want %q", e.ID, tc.errID)
				}
				return
			}
			var p Post
			if err := json.Unmarshal(r.body, &p); err != nil || p.ID == "" || p.ChannelID != chanID {
				t.Fatalf("201 body is not a Post: %s", r.body)
			}
			if p.Props["from_bot"] != "true" || p.UserID != s.Bot().ID {
				t.Fatalf("bot post without from_bot or wrong user: %s", r.body)
			}
		})
	}
	// Only the deliberately malformed body breaks the spec.
	if v := s.Violations(); len(v) != 1 || !strings.Contains(v[0], "POST /api/v4/posts") {
		t.Fatalf("violations: %q", v)
	}
}

func TestPendingPostIDDeduplicates(t *testing.T) {
	clock := &manualClock{t: time.Unix(1_700_000_000, 0)}
	s := newFake(t, WithClock(clock.Now))
	body := map[string]any{"channel_id": chanID, "message": "slow", "pending_post_id": "alert-1"}
	var first, second, third Post
	_ = json.Unmarshal(createPost(t, s, body).body, &first)
	clock.Add(29 * time.Second)
	r := createPost(t, s, body)
	_ = json.Unmarshal(r.body, &second)
	if r.status != 201 || second.ID != first.ID {
		t.Fatalf("retry within 30s created %q (first %q)", second.ID, first.ID)
	}
	if n := len(s.Posts(chanID)); n != 1 {
		t.Fatalf("%d posts after a retried create, want 1", n)
	}
	clock.Add(2 * time.Second) // 31 s after the first
	_ = json.Unmarshal(createPost(t, s, body).body, &third)
	if third.ID == first.ID {
		t.Fatal("pending_post_id still deduplicated after 30 s")
	}
	// A failed create does not reserve the id.
	bad := map[string]any{"channel_id": archivedID, "message": "x", "pending_post_id": "p2"}
	if r := createPost(t, s, bad); r.status != 400 {
		t.Fatalf("archived: %d", r.status)
	}
	if r := createPost(t, s, map[string]any{"channel_id": chanID, "message": "x", "pending_post_id": "p2"}); r.status != 201 {
		t.Fatalf("after failure: %d", r.status)
	}
	noViolations(t, s)
}

func TestThreadReply(t *testing.T) {
	s := newFake(t)
	var root, reply Post
	_ = json.Unmarshal(createPost(t, s, map[string]any{"channel_id": chanID, "message": "root"}).body, &root)
	_ = json.Unmarshal(createPost(t, s, map[string]any{"channel_id": chanID, "message": "again", "root_id": root.ID}).body, &reply)
	if reply.RootID != root.ID {
		t.Fatalf("reply root_id %q", reply.RootID)
	}
	if r := createPost(t, s, map[string]any{"channel_id": otherID, "message": "x", "root_id": root.ID}); r.status != 400 {
		t.Fatalf("reply in another channel: %d", r.status)
	}
	if got := s.Posts(chanID)[0].ReplyCount; got != 1 {
		t.Fatalf("reply_count %d", got)
	}
	noViolations(t, s)
}

type upload struct {
	channelFirst bool
	channelID    string
	files        map[string][]byte
	clientIDs    []string
	extra        map[string]string
}

func (u upload) body() ([]byte, string) {
	var b bytes.Buffer
	mw := multipart.NewWriter(&b)
	writeChannel := func() {
		if u.channelID != "" {
			_ = mw.WriteField("channel_id", u.channelID)
		}
	}
	if u.channelFirst {
		writeChannel()
	}
	for _, c := range u.clientIDs {
		_ = mw.WriteField("client_ids", c)
	}
	for k, v := range u.extra {
		_ = mw.WriteField(k, v)
	}
	for name, data := range u.files {
		w, _ := mw.CreateFormFile("files", name)
		_, _ = w.Write(data)
	}
	if !u.channelFirst {
		writeChannel()
	}
	_ = mw.Close()
	return b.Bytes(), mw.FormDataContentType()
}

type uploadResponse struct {
	FileInfos []StoredFile `json:"file_infos"`
	ClientIDs []string     `json:"client_ids"`
}

// A 1x1 PNG.
var png1x1 = []byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4\x89\x00\x00\x00\rIDATx\x9cc\xf8\x0f\x00\x00\x01\x01\x00\x05\x18\xd8N\x00\x00\x00\x00IEND\xaeB`\x82")

func TestUploadAndAttach(t *testing.T) {
	s := newFake(t)
	files := map[string][]byte{"flame.png": png1x1, "profile.pb.gz": []byte("\x1f\x8b pprof")}
	body, ct := upload{channelFirst: true, channelID: chanID, files: files}.body()
	r := do(t, "POST", s.URL()+"/api/v4/files", token, ct, body)
	if r.status != 201 {
		t.Fatalf("upload: %d %s", r.status, r)
	}
	var ur uploadResponse
	_ = json.Unmarshal(r.body, &ur)
	if len(ur.FileInfos) != 2 || ur.ClientIDs == nil || len(ur.ClientIDs) != 0 {
		t.Fatalf("upload response: %s", r.body)
	}
	ids := []string{}
	for _, f := range ur.FileInfos {
		if f.Name == "flame.png" && (f.Width != 1 || f.MimeType != "image/png" || f.Extension != "png") {
			t.Fatalf("png info: %+v", f)
		}
		ids = append(ids, f.ID)
	}

	// Uploaded by alice: the bot cannot attach it.
	body2, ct2 := upload{channelFirst: true, channelID: chanID, files: map[string][]byte{"a.txt": []byte("a")}}.body()
	var ar uploadResponse
	_ = json.Unmarshal(do(t, "POST", s.URL()+"/api/v4/files", "alice-token", ct2, body2).body, &ar)
	// Uploaded to another channel.
	body3, ct3 := upload{channelFirst: true, channelID: otherID, files: map[string][]byte{"o.txt": []byte("o")}}.body()
	var or uploadResponse
	_ = json.Unmarshal(do(t, "POST", s.URL()+"/api/v4/files", token, ct3, body3).body, &or)

	all := append(append([]string{}, ids...), ar.FileInfos[0].ID, or.FileInfos[0].ID, unknownID)
	var p Post
	r = createPost(t, s, map[string]any{"channel_id": chanID, "message": "with files", "file_ids": all})
	_ = json.Unmarshal(r.body, &p)
	if r.status != 201 || len(p.FileIDs) != 2 {
		t.Fatalf("attach: %d file_ids %v, want only the bot's two", r.status, p.FileIDs)
	}
	// A file attaches to one post only.
	_ = json.Unmarshal(createPost(t, s, map[string]any{"channel_id": chanID, "message": "again", "file_ids": ids}).body, &p)
	if len(p.FileIDs) != 0 {
		t.Fatalf("re-attached %v", p.FileIDs)
	}
	noViolations(t, s)
}

func TestUploadErrorClasses(t *testing.T) {
	pngOnly := map[string][]byte{"f.png": png1x1}
	for _, tc := range []struct {
		name   string
		opts   []Option
		tok    string
		up     upload
		status int
		errID  string
	}{
		{"no token", nil, "", upload{channelFirst: true, channelID: chanID, files: pngOnly}, 401, ErrSessionExpired},
		{"uploads disabled", []Option{WithUploadsDisabled()}, token, upload{channelFirst: true, channelID: chanID, files: pngOnly}, 403, ErrFilesDisabled},
		{"too large", []Option{WithMaxFileSize(10)}, token, upload{channelFirst: true, channelID: chanID, files: pngOnly}, 413, ErrFileTooLarge},
		{"unknown channel", nil, token, upload{channelFirst: true, channelID: unknownID, files: pngOnly}, 403, ErrPermissions},
		{"client_ids mismatch", nil, token, upload{channelFirst: true, channelID: chanID, files: pngOnly, clientIDs: []string{"a", "b"}}, 400, ErrFileClientIDs},
		{"legacy order still works", nil, token, upload{channelID: chanID, files: pngOnly}, 201, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newFake(t, tc.opts...)
			body, ct := tc.up.body()
			r := do(t, "POST", s.URL()+"/api/v4/files", tc.tok, ct, body)
			if r.status != tc.status {
				t.Fatalf("status %d, want %d: %s", r.status, tc.status, r)
			}
			if tc.errID != "" {
				if e := r.appError(t); e.ID != tc.errID {
					t.Fatalf("id %q, want %q", e.ID, tc.errID)
				}
			}
			noViolations(t, s)
		})
	}
	t.Run("conflicting channel ids", func(t *testing.T) {
		s := newFake(t)
		body, ct := upload{channelFirst: true, channelID: chanID, files: pngOnly}.body()
		r := do(t, "POST", s.URL()+"/api/v4/files?channel_id="+otherID, token, ct, body)
		if e := r.appError(t); r.status != 400 || e.ID != ErrFileChannelIDs {
			t.Fatalf("%d %s", r.status, r)
		}
	})
	t.Run("raw body mode", func(t *testing.T) {
		s := newFake(t)
		r := do(t, "POST", s.URL()+"/api/v4/files?channel_id="+chanID+"&filename=f.png", token, "image/png", png1x1)
		if r.status != 201 {
			t.Fatalf("%d %s", r.status, r)
		}
		noViolations(t, s)
	})
	t.Run("empty body", func(t *testing.T) {
		s := newFake(t)
		r := do(t, "POST", s.URL()+"/api/v4/files?channel_id="+chanID+"&filename=f.png", token, "image/png", []byte{})
		if e := r.appError(t); r.status != 400 || e.ID != ErrFileReadRequest {
			t.Fatalf("%d %s", r.status, r)
		}
	})
	t.Run("unknown form field breaks the spec", func(t *testing.T) {
		s := newFake(t)
		body, ct := upload{channelFirst: true, channelID: chanID, files: pngOnly, extra: map[string]string{"bogus": "1"}}.body()
		r := do(t, "POST", s.URL()+"/api/v4/files", token, ct, body)
		if e := r.appError(t); r.status != 400 || e.ID != ErrContractViolation || len(s.Violations()) != 1 {
			t.Fatalf("%d %s %q", r.status, r.body, s.Violations())
		}
	})
}
