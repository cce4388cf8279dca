package mattermostfake

import (
	"encoding/json"
	"testing"
	"time"
)

func patchPost(t *testing.T, s *Server, id, tok string, body any) resp {
	t.Helper()
	return do(t, "PUT", s.URL()+"/api/v4/posts/"+id+"/patch", tok, "application/json", mustJSON(body))
}

// Section 12: a patch applies the fields given, answers the whole post with
// edit_at and update_at set, and leaves the others unchanged.
func TestPatchPost(t *testing.T) {
	clock := &manualClock{t: time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)}
	s := newFake(t, WithClock(clock.Now))
	var root Post
	_ = json.Unmarshal(createPost(t, s, map[string]any{"channel_id": chanID, "message": "firing", "props": map[string]any{"k": "v"}}).body, &root)
	clock.Add(time.Minute)

	r := patchPost(t, s, root.ID, token, map[string]any{"message": "resolved"})
	if r.status != 200 {
		t.Fatalf("patch: %d %s", r.status, r)
	}
	var got Post
	if err := json.Unmarshal(r.body, &got); err != nil {
		t.Fatal(err)
	}
	want := clock.Now().UnixMilli()
	if got.ID != root.ID || got.Message != "resolved" || got.EditAt != want || got.UpdateAt != want || got.CreateAt != root.CreateAt {
		t.Fatalf("patched post = %+v", got)
	}
	if got.Props["k"] != "v" || got.ChannelID != chanID {
		t.Fatalf("fields not in the patch changed: %+v", got)
	}
	// props is an object on the real server (the spec says string).
	if r := patchPost(t, s, root.ID, token, map[string]any{"props": map[string]any{"state": "resolved"}, "is_pinned": true}); r.status != 200 {
		t.Fatalf("props patch: %d %s", r.status, r)
	}
	stored, _ := s.Post(root.ID)
	if stored.Message != "resolved" || stored.Props["state"] != "resolved" || stored.Props["k"] != nil || !stored.IsPinned || stored.Edits != 1 {
		t.Fatalf("stored = %+v", stored)
	}
	if n := len(s.Posts(chanID)); n != 1 {
		t.Fatalf("%d posts, want the one edited in place", n)
	}
	noViolations(t, s)
}

// Section 12: unknown, deleted or another user's posts answer 403 (a
// permission failure, not 404); bad JSON 400; the message rules of a new
// post apply.
func TestPatchPostErrorClasses(t *testing.T) {
	s := newFake(t, WithMaxPostSize(1000), WithStrict(false))
	var mine, deleted, alices Post
	_ = json.Unmarshal(createPost(t, s, map[string]any{"channel_id": chanID, "message": "mine"}).body, &mine)
	_ = json.Unmarshal(createPost(t, s, map[string]any{"channel_id": chanID, "message": "gone"}).body, &deleted)
	_ = json.Unmarshal(do(t, "POST", s.URL()+"/api/v4/posts", "alice-token", "application/json",
		mustJSON(map[string]any{"channel_id": chanID, "message": "alice"})).body, &alices)
	s.DeletePost(deleted.ID)

	long := make([]byte, 1001)
	for i := range long {
		long[i] = 'x'
	}
	for _, c := range []struct {
		name, id, tok string
		body          any
		status        int
		errID         string
	}{
		{"unknown post", unknownID, token, map[string]any{"message": "x"}, 403, ErrPermissions},
		{"deleted post", deleted.ID, token, map[string]any{"message": "x"}, 403, ErrPermissions},
		{"another user's post", alices.ID, token, map[string]any{"message": "x"}, 403, ErrPermissions},
		{"bad id", "junk", token, map[string]any{"message": "x"}, 400, ErrInvalidURLParam},
		{"no token", mine.ID, "", map[string]any{"message": "x"}, 401, ErrSessionExpired},
		{"too long", mine.ID, token, map[string]any{"message": string(long)}, 400, ErrMessageLength},
	} {
		r := patchPost(t, s, c.id, c.tok, c.body)
		if r.status != c.status || r.appError(t).ID != c.errID {
			t.Errorf("%s: %d %s, want %d %s", c.name, r.status, r, c.status, c.errID)
		}
	}
	r := do(t, "PUT", s.URL()+"/api/v4/posts/"+mine.ID+"/patch", token, "application/json", []byte("{"))
	if r.status != 400 || r.appError(t).ID != ErrInvalidBodyParam {
		t.Errorf("bad JSON: %d %s", r.status, r)
	}
	if p, _ := s.Post(mine.ID); p.Message != "mine" || p.EditAt != 0 {
		t.Fatalf("a refused patch changed the post: %+v", p)
	}
	// A reply to a deleted root is refused like one to an unknown root.
	if r := createPost(t, s, map[string]any{"channel_id": chanID, "message": "x", "root_id": deleted.ID}); r.status != 400 || r.appError(t).ID != ErrRootID {
		t.Errorf("reply to a deleted root: %d %s", r.status, r)
	}
}

// Section 12: with PostEditTimeLimit set, changing the message of an older
// post answers 400 with the time-limit id; a patch without message is not
// limited, and a younger post can be edited.
func TestPatchPostEditTimeLimit(t *testing.T) {
	clock := &manualClock{t: time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)}
	s := newFake(t, WithClock(clock.Now), WithPostEditTimeLimit(5*time.Minute))
	var p Post
	_ = json.Unmarshal(createPost(t, s, map[string]any{"channel_id": chanID, "message": "firing"}).body, &p)
	clock.Add(4 * time.Minute)
	if r := patchPost(t, s, p.ID, token, map[string]any{"message": "escalated"}); r.status != 200 {
		t.Fatalf("young post: %d %s", r.status, r)
	}
	clock.Add(2 * time.Minute)
	r := patchPost(t, s, p.ID, token, map[string]any{"message": "resolved"})
	if r.status != 400 || r.appError(t).ID != ErrEditTimeLimit {
		t.Fatalf("old post: %d %s", r.status, r)
	}
	if r := patchPost(t, s, p.ID, token, map[string]any{"is_pinned": true}); r.status != 200 {
		t.Fatalf("pin without message: %d %s", r.status, r)
	}
	if got, _ := s.Post(p.ID); got.Message != "escalated" || got.Edits != 1 {
		t.Fatalf("post = %+v", got)
	}
	noViolations(t, s)
}

// Section 12 and 10: a patched message is scanned for mentions as a new
// post is.
func TestPatchPostMentions(t *testing.T) {
	s := newFake(t)
	var p Post
	_ = json.Unmarshal(createPost(t, s, map[string]any{"channel_id": chanID, "message": "quiet"}).body, &p)
	if r := patchPost(t, s, p.ID, token, map[string]any{"message": "now @channel and @alice"}); r.status != 200 {
		t.Fatalf("patch: %d %s", r.status, r)
	}
	got, _ := s.Post(p.ID)
	if !got.Mentions.ChannelWide() || len(got.Mentions.Users) != 1 {
		t.Fatalf("mentions = %+v", got.Mentions)
	}
	noViolations(t, s)
}
