package mattermostfake

import (
	"testing"
)

// The expectations follow exporter/mattermostexporter/PROTOCOL.md section
// 10 (how the server finds mentions); "conservative" rows are where the fake
// may over-report.
func TestDetectMentions(t *testing.T) {
	type want struct{ channel, here, all bool }
	for _, tc := range []struct {
		msg  string
		want want
		why  string
	}{
		{"@channel", want{channel: true}, "plain text in a paragraph is scanned"},
		{"ping @CHANNEL now", want{channel: true}, "matched case-insensitively"},
		{"@channel.", want{channel: true}, "trailing . tolerated"},
		{"@here:", want{here: true}, "trailing : tolerated"},
		{"@all_", want{all: true}, "trailing _ tolerated"},
		{"x.@channel", want{channel: true}, "words with . - : are split further"},
		{"_@channel", want{channel: true}, "leading : . - _ trimmed"},
		{"/orders/@channel?x=1", want{channel: true}, "/ and ? split words"},
		{"`@channel`", want{}, "code spans are skipped"},
		{"``a ` @here``", want{}, "a longer fence holds a shorter backtick run"},
		{"`unclosed @here", want{here: true}, "an unclosed backtick is text"},
		{"```\n@here\n```", want{}, "fenced code blocks are not paragraphs"},
		{"~~~\n@all\n~~~", want{}, "tilde fences too"},
		{"    @here", want{}, "indented code blocks are not paragraphs"},
		{"text\n    @here", want{here: true}, "indented code cannot interrupt a paragraph"},
		{"- item\n\n    @here", want{here: true}, "list item continuation is a paragraph"},
		{"- a\n  ```\n@channel\n```", want{channel: true}, "the fence closes with its list item"},
		{"> @channel", want{channel: true}, "block quotes recurse into paragraphs"},
		{"- @all", want{all: true}, "list items recurse into paragraphs"},
		{"# @here", want{here: true}, "no headings: the line is paragraph text"},
		{"@\u200bchannel", want{}, "U+200B (Cf) after @ defeats the mention"},
		{"@\u2060here", want{}, "U+2060 too"},
		{"\uff20channel", want{}, "full-width @ is not @"},
		{`\@channel`, want{channel: true}, "backslash escaping does NOT help"},
		{"&#64;channel", want{channel: true}, "HTML entities do NOT help"},
		{"&commat;here", want{here: true}, "named entity for @"},
		{"[@channel](http://example.com)", want{channel: true}, "link text is scanned"},
		{"[x](http://a/@channel)", want{channel: true}, "conservative: a destination is scanned here"},
		{":@channel:", want{}, "':word:' is taken for an emoji"},
		{"<!channel>", want{}, "REST posts get no Slack translation"},
		{"a@channel", want{}, "no split on @ itself"},
		{"@channels", want{}, "a longer word is not @channel"},
	} {
		t.Run(tc.msg, func(t *testing.T) {
			m := DetectMentions(tc.msg, nil)
			got := want{m.Channel, m.Here, m.All}
			if got != tc.want {
				t.Fatalf("%q: got %+v, want %+v (%s)", tc.msg, got, tc.want, tc.why)
			}
		})
	}
}

func TestDetectUserMentions(t *testing.T) {
	m := DetectMentions("cc @Alice, @bob and `@carol`", []string{"alice", "carol"})
	if len(m.Users) != 1 || m.Users[0] != "alice" || len(m.Others) != 1 || m.Others[0] != "bob" {
		t.Fatalf("%+v", m)
	}
	if !m.Fired() || !m.Any() || m.ChannelWide() {
		t.Fatalf("%+v", m)
	}
}

func TestProcessSlackText(t *testing.T) {
	ids := map[string]string{"a11ce0000000000000000000aa": "alice"}
	got := ProcessSlackText("<!channel> <!here> <!all> <@a11ce0000000000000000000aa> <@nobody> <!CHANNEL>", ids)
	want := "@channel @here @all @alice <@nobody> <!CHANNEL>"
	if got != want {
		t.Fatalf("got %q, want %q", got, want)
	}
}

// Mentions are recorded on every accepted post, and the permission gate is
// modelled separately.
func TestPostsRecordMentions(t *testing.T) {
	s := newFake(t, WithChannel(Channel{ID: otherID, Name: "quiet", NoChannelMentions: true}))
	createPost(t, s, map[string]any{"channel_id": chanID, "message": "`@channel` safe"})
	createPost(t, s, map[string]any{"channel_id": chanID, "message": "x", "props": map[string]any{
		"attachments": []any{map[string]any{"title": "@here ignored", "text": "@all", "fields": []any{map[string]any{"title": "t", "value": "@alice"}}}},
	}})
	createPost(t, s, map[string]any{"channel_id": otherID, "message": "@channel"})
	posts := s.Posts(chanID)
	if posts[0].Mentions.Any() {
		t.Fatalf("code span fired: %+v", posts[0].Mentions)
	}
	if m := posts[1].Mentions; !m.All || m.Here || len(m.Users) != 1 {
		t.Fatalf("attachments: %+v", m)
	}
	q := s.Posts(otherID)[0]
	if !q.Mentions.Channel || q.Notified || q.Props["mentionHighlightDisabled"] != true {
		t.Fatalf("without use_channel_mentions: %+v notified=%v props=%v", q.Mentions, q.Notified, q.Props)
	}
	noViolations(t, s)
}
