package mattermostfake

import (
	"regexp"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Mentions is what a real server's mention parser finds in a post
// (exporter/mattermostexporter/PROTOCOL.md section 10). It describes the text, not who is notified:
// permission gates (use_channel_mentions) are recorded separately on the
// post, so a test can assert "this text would never ping anyone".
type Mentions struct {
	Channel bool // @channel
	Here    bool // @here
	All     bool // @all
	// Users are usernames of the fake's users matched through their mention
	// keywords ("@username").
	Users []string
	// Others are other @words: potential mentions of users the fake does
	// not know (a real server may know them).
	Others []string
}

// ChannelWide reports @channel, @here or @all.
func (m Mentions) ChannelWide() bool { return m.Channel || m.Here || m.All }

// Fired reports whether any mention would notify someone: a channel-wide
// mention or a known user.
func (m Mentions) Fired() bool { return m.ChannelWide() || len(m.Users) > 0 }

// Any reports Fired or any other @word (the strictest assertion for
// untrusted text).
func (m Mentions) Any() bool { return m.Fired() || len(m.Others) > 0 }

func (m *Mentions) merge(o Mentions) {
	m.Channel = m.Channel || o.Channel
	m.Here = m.Here || o.Here
	m.All = m.All || o.All
	m.Users = append(m.Users, o.Users...)
	m.Others = append(m.Others, o.Others...)
}

// DetectMentions parses message as Mattermost Markdown and returns the
// mentions a real server would find. usernames are the users whose
// "@username" keyword counts (case-insensitive).
//
// Faithful to section 10: only text inside paragraphs (also in list items
// and block quotes) is scanned; code spans, fenced and indented code blocks
// are inert; backslash escapes and HTML character references are decoded
// first and adjacent text is concatenated, so "\@channel" and "&#64;channel"
// do fire; words split on every rune that is not a letter, digit or one of
// ": . - _ @", so U+200B or U+2060 after "@", or a full-width "＠", defeats a
// mention; trailing ". - : _" are tolerated.
//
// Deliberately conservative where the fake simplifies (it may report a
// mention a real server would not, never the reverse): link destinations,
// autolinked URLs and reference definitions are scanned as text.
func DetectMentions(message string, usernames []string) Mentions {
	keywords := make(map[string]string, len(usernames))
	for _, u := range usernames {
		keywords["@"+strings.ToLower(u)] = u
	}
	var m Mentions
	for _, para := range paragraphs(message) {
		for _, seg := range inlineTextSegments(para) {
			processText(seg, keywords, &m)
		}
	}
	return m
}

// processText is the word scan of the standard mention parser.
func processText(text string, keywords map[string]string, m *Mentions) {
	check := func(word string) bool {
		switch strings.ToLower(word) {
		case "@here":
			m.Here = true
		case "@channel":
			m.Channel = true
		case "@all":
			m.All = true
		}
		if u, ok := keywords[strings.ToLower(word)]; ok {
			m.Users = append(m.Users, u)
			return true
		}
		return false
	}
	isSystem := func(w string) bool { return w == "@here" || w == "@channel" || w == "@all" }
	for _, word := range strings.FieldsFunc(text, func(c rune) bool {
		return !(c == ':' || c == '.' || c == '-' || c == '_' || c == '@' || unicode.IsLetter(c) || unicode.IsNumber(c))
	}) {
		if word[0] == ':' && word[len(word)-1] == ':' {
			continue // emoji-like ":word:"
		}
		word = strings.TrimLeft(word, ":.-_")
		if check(word) {
			continue
		}
		found := false
		for w := word; w != "" && strings.LastIndexAny(w, ".-:_") == len(w)-1; {
			w = w[:len(w)-1]
			if check(w) {
				found = true
				break
			}
		}
		if found {
			continue
		}
		if !isSystem(word) && strings.HasPrefix(word, "@") {
			w := word
			switch w[len(w)-1] {
			case '.', '-', ':':
				w = w[:len(w)-1]
			}
			if len(w) > 1 {
				m.Others = append(m.Others, w[1:])
			}
		} else if strings.ContainsAny(word, ".-:") {
			for _, sw := range strings.FieldsFunc(word, func(c rune) bool { return c == '.' || c == '-' || c == ':' }) {
				if check(sw) {
					continue
				}
				if !isSystem(sw) && strings.HasPrefix(sw, "@") && len(sw) > 1 {
					m.Others = append(m.Others, sw[1:])
				}
			}
		}
	}
}

// ---- block structure -------------------------------------------------

// Mattermost's server-side Markdown has only these blocks: document, block
// quote, list, list item, fenced code, indented code and paragraph. There
// are no headings, tables or HTML blocks: such lines are paragraph text and
// are scanned.
type blockKind int

const (
	bDoc blockKind = iota
	bQuote
	bList
	bItem
	bPara
	bFence
	bICode
)

type mdBlock struct {
	kind blockKind
	// list / item
	ordered     bool
	delim       byte
	itemIndent  int
	hasChildren bool
	// fence
	fence       string
	fenceClosed bool
	// paragraph
	lines []string
}

const maxNesting = 32

func (b *mdBlock) isContainer() bool {
	return b.kind == bDoc || b.kind == bQuote || b.kind == bList || b.kind == bItem
}

// countIndent returns the indentation in columns (tabs to the next multiple
// of four) and the bytes it spans.
func countIndent(s string) (cols, n int) {
	for n < len(s) {
		switch s[n] {
		case ' ':
			cols++
		case '\t':
			cols += 4 - cols%4
		default:
			return
		}
		n++
	}
	return
}

func isBlank(s string) bool { return strings.TrimSpace(s) == "" }

// continuation reports whether b continues on this line and what remains.
func (b *mdBlock) continuation(indent int, rest string) (int, string, bool) {
	switch b.kind {
	case bDoc:
		return indent, rest, true
	case bQuote:
		if indent > 3 || rest == "" || rest[0] != '>' {
			return 0, "", false
		}
		ind, n := countIndent(rest[1:])
		if ind > 0 {
			ind--
		}
		return ind, rest[1+n:], true
	case bList:
		if isBlank(rest) {
			return 0, rest, true
		}
		return indent, rest, true
	case bItem:
		if isBlank(rest) {
			if !b.hasChildren {
				return 0, "", false
			}
			return 0, rest, true
		}
		if indent < b.itemIndent {
			return 0, "", false
		}
		return indent - b.itemIndent, rest, true
	case bPara:
		if isBlank(rest) {
			return 0, "", false
		}
		return indent, rest, true
	case bFence:
		if b.fenceClosed {
			return 0, "", false
		}
		return indent, rest, true
	case bICode:
		if indent >= 4 {
			return indent - 4, rest, true
		}
		if isBlank(rest) {
			return 0, rest, true
		}
		return 0, "", false
	}
	return 0, "", false
}

func (b *mdBlock) allowsBlockStarts() bool { return b.kind != bFence && b.kind != bICode }

// addChild adds the first of blocks to container b; it returns the blocks
// that become open, or nil when b does not accept them.
func (b *mdBlock) addChild(blocks []*mdBlock) []*mdBlock {
	switch b.kind {
	case bDoc, bQuote:
		return blocks
	case bItem:
		b.hasChildren = true
		return blocks
	case bList:
		if blocks[0].kind == bItem {
			return blocks
		}
		if l := blocks[0]; l.kind == bList && l.ordered == b.ordered && l.delim == b.delim && len(blocks) > 1 {
			return b.addChild(blocks[1:])
		}
	}
	return nil
}

// addLine gives a line to the innermost matched block; true when consumed.
func (b *mdBlock) addLine(indent int, rest string) bool {
	switch b.kind {
	case bFence:
		if indent <= 3 && strings.HasPrefix(rest, b.fence) && strings.Trim(strings.TrimSpace(rest), b.fence[:1]) == "" {
			b.fenceClosed = true
		}
		return true
	case bICode:
		return true
	}
	return false
}

func blockStart(indent int, rest string, matched, unmatched []*mdBlock, depth int) []*mdBlock {
	if rest == "" {
		return nil
	}
	// Block quote.
	if indent <= 3 && rest[0] == '>' && depth < maxNesting {
		r := rest[1:]
		if len(r) > 0 && r[0] == ' ' {
			r = r[1:]
		}
		ind, n := countIndent(r)
		ret := []*mdBlock{{kind: bQuote}}
		return append(ret, blockStartOrParagraph(ind, r[n:], depth+1)...)
	}
	if l := listStart(indent, rest, matched, unmatched, depth); l != nil {
		return l
	}
	// Indented code cannot interrupt a paragraph.
	var last *mdBlock
	if len(unmatched) > 0 {
		last = unmatched[len(unmatched)-1]
	} else if len(matched) > 0 {
		last = matched[len(matched)-1]
	}
	if (last == nil || last.kind != bPara) && indent >= 4 && !isBlank(rest) {
		return []*mdBlock{{kind: bICode}}
	}
	// Fenced code; upstream checks no indentation limit here and refuses an
	// info string containing a backtick whatever the fence character.
	if strings.HasPrefix(rest, "```") || strings.HasPrefix(rest, "~~~") {
		n := 3
		for n < len(rest) && rest[n] == rest[0] {
			n++
		}
		if strings.IndexByte(rest[n:], '`') >= 0 {
			return nil
		}
		return []*mdBlock{{kind: bFence, fence: rest[:n]}}
	}
	return nil
}

func listStart(indent int, rest string, matched, unmatched []*mdBlock, depth int) []*mdBlock {
	afterList := len(matched) > 0 && matched[len(matched)-1].kind == bList
	if (!afterList && indent > 3) || depth >= maxNesting {
		return nil
	}
	digits, start := 0, 0
	for digits < len(rest) && rest[digits] >= '0' && rest[digits] <= '9' {
		start = start*10 + int(rest[digits]-'0')
		digits++
	}
	var ordered bool
	var delim byte
	var width int
	if digits > 0 {
		if digits > 9 || digits >= len(rest) || (rest[digits] != '.' && rest[digits] != ')') {
			return nil
		}
		ordered, delim, width = true, rest[digits], digits+1
	} else {
		if rest[0] != '-' && rest[0] != '+' && rest[0] != '*' {
			return nil
		}
		delim, width = rest[0], 1
	}
	remaining := rest[width:]
	blank := isBlank(remaining)
	if len(matched) > 0 && len(unmatched) == 0 && matched[len(matched)-1].kind == bPara {
		if blank || (ordered && start != 1) {
			return nil
		}
	}
	after, n := countIndent(remaining)
	if !blank && after < 1 {
		return nil
	}
	consumed := after
	if blank || after >= 5 {
		consumed = 1
	}
	item := &mdBlock{kind: bItem, itemIndent: indent + width + consumed}
	ret := []*mdBlock{{kind: bList, ordered: ordered, delim: delim}, item}
	if d := blockStartOrParagraph(after-consumed, remaining[n:], depth+1); d != nil {
		item.hasChildren = true
		ret = append(ret, d...)
	}
	return ret
}

func blockStartOrParagraph(indent int, rest string, depth int) []*mdBlock {
	if s := blockStart(indent, rest, nil, nil, depth); s != nil {
		return s
	}
	if isBlank(rest) {
		return nil
	}
	return []*mdBlock{{kind: bPara, lines: []string{rest}}}
}

// paragraphs returns the raw inline text of every paragraph, lines joined
// with "\n", container markers and indentation removed.
func paragraphs(markdown string) []string {
	var out []string
	closeBlocks := func(bs []*mdBlock) {
		for _, b := range bs {
			if b.kind == bPara {
				out = append(out, strings.Join(b.lines, "\n"))
			}
		}
	}
	open := []*mdBlock{{kind: bDoc}}
	markdown = strings.ReplaceAll(markdown, "\r\n", "\n")
	markdown = strings.ReplaceAll(markdown, "\r", "\n")
	for _, line := range strings.Split(markdown, "\n") {
		indent, n := countIndent(line)
		rest := line[n:]
		last := 0
		for i, b := range open {
			ind, r, ok := b.continuation(indent, rest)
			if !ok {
				break
			}
			add, m := countIndent(r)
			indent, rest, last = ind+add, r[m:], i
		}
		if open[last].allowsBlockStarts() {
			if nb := blockStart(indent, rest, open[:last+1], open[last+1:], last+1); nb != nil {
				added := false
				for i := last; i >= 0 && !added; i-- {
					if open[i].isContainer() {
						if a := open[i].addChild(nb); a != nil {
							closeBlocks(open[i+1:])
							open = append(open[:i+1:i+1], a...)
							added = true
						}
					}
				}
				if added {
					continue
				}
			}
		}
		if top := open[len(open)-1]; top.kind == bPara && !isBlank(rest) {
			top.lines = append(top.lines, rest) // includes lazy continuation
			continue
		}
		closeBlocks(open[last+1:])
		open = open[:last+1]
		if open[last].addLine(indent, rest) {
			continue
		}
		if isBlank(rest) {
			continue
		}
		p := &mdBlock{kind: bPara, lines: []string{rest}}
		for i := last; i >= 0; i-- {
			if open[i].isContainer() {
				if a := open[i].addChild([]*mdBlock{p}); a != nil {
					closeBlocks(open[i+1:])
					open = append(open[:i+1:i+1], a...)
					break
				}
			}
		}
	}
	closeBlocks(open)
	return out
}

// ---- inlines -----------------------------------------------------------

var emojiRe = regexp.MustCompile(`^:([a-z0-9_\-+]+):\B`)

func isWordByte(c byte) bool {
	return c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

func isEscapable(c byte) bool {
	return c < utf8.RuneSelf && unicode.IsPunct(rune(c)) || strings.IndexByte("$+<=>^`|~", c) >= 0
}

// inlineTextSegments returns the runs of text a real server concatenates
// before scanning for mentions. A run ends at any non-text inline: a code
// span (whose content is dropped: inert), a line break or an emoji.
func inlineTextSegments(raw string) []string {
	var segs []string
	var buf strings.Builder
	flush := func() {
		if buf.Len() > 0 {
			segs = append(segs, buf.String())
			buf.Reset()
		}
	}
	for i := 0; i < len(raw); {
		c := raw[i]
		switch c {
		case '\n':
			flush()
			i++
		case '\\':
			if i+1 < len(raw) && isEscapable(raw[i+1]) {
				buf.WriteByte(raw[i+1])
				i += 2
			} else {
				buf.WriteByte('\\')
				i++
			}
		case '`':
			n := 1
			for i+n < len(raw) && raw[i+n] == '`' {
				n++
			}
			if end := closingBackticks(raw, i+n, n); end >= 0 {
				flush() // code span: inert
				i = end + n
			} else {
				buf.WriteString(raw[i : i+n])
				i += n
			}
		case '&':
			if s, adv := characterReference(raw[i+1:]); adv > 0 {
				buf.WriteString(s)
				i += 1 + adv
			} else {
				buf.WriteByte('&')
				i++
			}
		case ':':
			if i <= 1 || !isWordByte(raw[i-1]) {
				if loc := emojiRe.FindStringIndex(raw[i:]); loc != nil {
					flush()
					i += loc[1]
					continue
				}
			}
			buf.WriteByte(':')
			i++
		default:
			buf.WriteByte(c)
			i++
		}
	}
	flush()
	return segs
}

// closingBackticks finds a run of exactly n backticks at or after from.
func closingBackticks(raw string, from, n int) int {
	for i := from; i < len(raw); {
		if raw[i] != '`' {
			i++
			continue
		}
		j := i
		for j < len(raw) && raw[j] == '`' {
			j++
		}
		if j-i == n {
			return i
		}
		i = j
	}
	return -1
}

// namedEntities holds the HTML5 named references that decode to characters
// relevant to mention scanning (letters, digits and ": . - _ @" join words;
// everything else splits them, as "&" and ";" do).
var namedEntities = map[string]string{
	"commat": "@", "period": ".", "colon": ":", "lowbar": "_", "UnderBar": "_",
	"amp": "&", "lt": "<", "gt": ">", "quot": "\"", "apos": "'", "nbsp": "\u00a0",
	"grave": "`", "bsol": "\\", "num": "#", "excl": "!", "ZeroWidthSpace": "\u200b",
	"NoBreak": "\u2060", "zwj": "\u200d", "zwnj": "\u200c", "hyphen": "\u2010", "dash": "\u2010",
}

// characterReference decodes "name;" / "#123;" / "#x1F;" at the start of s
// and returns the text and the bytes consumed (0 when not a reference).
func characterReference(s string) (string, int) {
	semi := strings.IndexByte(s, ';')
	if semi <= 0 {
		return "", 0
	}
	ref := s[:semi]
	if ref[0] == '#' {
		var n uint64
		var err error
		switch {
		case len(ref) > 2 && (ref[1] == 'x' || ref[1] == 'X') && len(ref) <= 10:
			n, err = strconv.ParseUint(ref[2:], 16, 32)
		case len(ref) > 1 && ref[1] != 'x' && ref[1] != 'X' && len(ref) <= 9:
			n, err = strconv.ParseUint(ref[1:], 10, 32)
		default:
			return "", 0
		}
		if err != nil || strings.ContainsAny(ref[1:], "+-") {
			return "", 0
		}
		r := rune(n)
		if r == 0 || !utf8.ValidRune(r) {
			r = utf8.RuneError
		}
		return string(r), semi + 1
	}
	if v, ok := namedEntities[ref]; ok {
		return v, semi + 1
	}
	return "", 0
}

// ---- webhooks: Slack translation (section 7) --------------------------

var slackUserRe = regexp.MustCompile(`<@([a-zA-Z0-9]+)>`)

// ProcessSlackText applies the webhook-only translation a real server runs
// before mention parsing: <!channel>, <!here>, <!all> become @channel,
// @here, @all; <@USERID> becomes @username for known user ids.
func ProcessSlackText(text string, usernameByID map[string]string) string {
	text = strings.ReplaceAll(text, "<!channel>", "@channel")
	text = strings.ReplaceAll(text, "<!here>", "@here")
	text = strings.ReplaceAll(text, "<!all>", "@all")
	return slackUserRe.ReplaceAllStringFunc(text, func(m string) string {
		if u, ok := usernameByID[m[2:len(m)-1]]; ok {
			return "@" + u
		}
		return m
	})
}
