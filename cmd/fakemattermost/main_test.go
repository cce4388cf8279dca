package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// syncBuffer is the command's output, read while it runs.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}
func (s *syncBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

const channel = "abcdefghijklmnopqrstuvwxyz"

func post(t *testing.T, base, body string) string {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, base+"/api/v4/posts", strings.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer tok")
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer func() { _ = resp.Body.Close() }()
	require.Equal(t, http.StatusCreated, resp.StatusCode)
	var p struct {
		ID string `json:"id"`
	}
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&p))
	return p.ID
}

// TestLogsAndServesPosts: each post is logged as it arrives (channel, root
// of a reply, first line, files), and GET /posts lists them like the real
// API's post list, newest first.
func TestLogsAndServesPosts(t *testing.T) {
	out := &syncBuffer{}
	ctx, cancel := context.WithCancel(context.Background())
	urls := make(chan string, 1)
	errc := make(chan error, 1)
	go func() {
		errc <- run(ctx, []string{"-addr", "127.0.0.1:0", "-token", "tok", "-channel", channel}, out,
			func(u string) { urls <- u })
	}()
	var base string
	select {
	case base = <-urls:
	case err := <-errc:
		t.Fatal(err)
	case <-time.After(10 * time.Second):
		t.Fatal("fakemattermost did not start")
	}

	root := post(t, base, `{"channel_id":"`+channel+`","message":"**Slow** GET /orders/{id}\nsecond line\u0007"}`)
	require.Contains(t, out.String(), "post "+root+" channel="+channel+" files=0: **Slow** GET /orders/{id} …",
		"logged when it arrives, before the request returns")
	reply := post(t, base, `{"channel_id":"`+channel+`","root_id":"`+root+`","message":"again\u001b[31m"}`)
	assert.Contains(t, out.String(), "post "+reply+" channel="+channel+" root="+root+" files=0: again[31m")

	resp, err := http.Get(base + "/posts")
	require.NoError(t, err)
	var list struct {
		Order []string                   `json:"order"`
		Posts map[string]json.RawMessage `json:"posts"`
	}
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&list))
	require.NoError(t, resp.Body.Close())
	assert.Equal(t, []string{reply, root}, list.Order)
	var p struct {
		RootID    string `json:"root_id"`
		ChannelID string `json:"channel_id"`
		Message   string `json:"message"`
	}
	require.NoError(t, json.Unmarshal(list.Posts[reply], &p))
	assert.Equal(t, root, p.RootID)
	assert.Equal(t, channel, p.ChannelID)

	resp, err = http.Get(base + "/posts?channel_id=" + strings.Repeat("z", 26))
	require.NoError(t, err)
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&list))
	require.NoError(t, resp.Body.Close())
	assert.Empty(t, list.Order)

	cancel()
	require.NoError(t, <-errc)
	assert.Equal(t, 1, strings.Count(out.String(), "post "+root+" channel="), "each post logged once")
}

func TestFirstLine(t *testing.T) {
	assert.Equal(t, "a", firstLine("a"))
	assert.Equal(t, "a …", firstLine("a\nb"))
	assert.Equal(t, "ab", firstLine("a\x00\rb"))
	assert.Equal(t, strings.Repeat("é", maxLineRunes)+"…", firstLine(strings.Repeat("é", maxLineRunes+5)))
}
