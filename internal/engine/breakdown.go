package engine

import (
	"cmp"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/slowspan/slowspan/alert"
	"github.com/slowspan/slowspan/internal/diagnosis"
	"github.com/slowspan/slowspan/internal/profileindex"
	"github.com/slowspan/slowspan/internal/route"
)

// Bounds of a breakdown: enough to tell where the time went, small enough
// for a chat message.
const (
	maxChildGroups    = 10
	maxTrackedGroups  = 256
	maxChildIntervals = 4096
	maxDescription    = 120
)

// children collects the direct child spans of one slow span and folds the
// alike ones (same kind, name and description) into groups: 42 identical
// SELECTs become one line, the N+1 case. It keeps each child's interval too,
// for the time accounting and the diagnosis.
type children struct {
	start, end uint64 // the parent's timestamps
	groups     map[groupKey]*childGroup
	order      []*childGroup // in the order first seen
	spans      []childSpan
	overflow   int
	// bytes estimates the memory the groups and spans hold, for the
	// pending set's byte bound.
	bytes int64
}

// childGroup is a group with what the diagnosis needs to know of it.
type childGroup struct {
	alert.ChildGroup
	index  int
	class  diagnosis.Class
	system string
}

// childSpan is one child's interval, clipped to the parent.
type childSpan struct {
	start, end uint64
	group      *childGroup
}

// Memory estimates for the byte bound of waiting alerts: a group's struct,
// map slot and key, and one child span.
const (
	groupBytes = 288
	spanBytes  = 24
)

type groupKey struct{ kind, name, desc string }

func newChildren(parent ptrace.Span) *children {
	return &children{
		start:  uint64(parent.StartTimestamp()),
		end:    uint64(parent.EndTimestamp()),
		groups: make(map[groupKey]*childGroup),
	}
}

func (c *children) add(span ptrace.Span) {
	s, e := uint64(span.StartTimestamp()), uint64(span.EndTimestamp())
	if e < s {
		e = s
	}
	dur := time.Duration(e - s)
	var offset time.Duration
	if s > c.start {
		offset = time.Duration(s - c.start)
	}
	desc, class, system := describe(span.Kind(), span.Attributes())
	k := groupKey{
		kind: kindName(span.Kind()),
		name: sanitize(span.Name(), maxDescription),
		desc: desc,
	}
	g, ok := c.groups[k]
	if !ok {
		if len(c.groups) >= maxTrackedGroups {
			c.overflow++
			return
		}
		g = &childGroup{
			ChildGroup: alert.ChildGroup{Kind: k.kind, Name: k.name, Description: k.desc, Offset: offset},
			index:      len(c.order), class: class, system: system,
		}
		c.groups[k] = g
		c.order = append(c.order, g)
		c.bytes += groupBytes + int64(len(k.kind)+len(k.name)+len(k.desc)+len(system))
	}
	g.Count++
	g.Total += dur
	g.Max = max(g.Max, dur)
	g.Offset = min(g.Offset, offset)
	if len(c.spans) < maxChildIntervals {
		// Clipped to the parent at both ends: a child that starts after
		// its parent ended (fire and forget, clock skew) is an empty span
		// at the parent's end, never a negative one.
		cs := min(max(s, c.start), c.end)
		c.spans = append(c.spans, childSpan{start: cs, end: max(min(e, c.end), cs), group: g})
		c.bytes += spanBytes
	}
}

// diagnose accounts for the parent's time, diagnoses it from its children
// and profile (both may be missing), and returns the breakdown (nil without
// children) with each group's busy time and pattern.
func (c *children) diagnose(profile *alert.Profile, samples *profileindex.Samples) (*alert.Breakdown, *alert.Diagnosis) {
	req := diagnosis.Request{
		Start:   int64(c.start),
		Wall:    time.Duration(c.end - c.start),
		Groups:  make([]diagnosis.Group, len(c.order)),
		Calls:   make([]diagnosis.Call, len(c.spans)),
		Profile: profile,
		Samples: samples,
	}
	for i, g := range c.order {
		req.Groups[i] = diagnosis.Group{Class: g.class, System: g.system, Name: g.Name, Description: g.Description, Count: g.Count}
	}
	for i, sp := range c.spans {
		req.Calls[i] = diagnosis.Call{
			Group: sp.group.index,
			Start: time.Duration(sp.start - c.start),
			End:   time.Duration(sp.end - c.start),
		}
	}
	res := diagnosis.Diagnose(req)
	if len(c.order) == 0 {
		return nil, res.Diagnosis
	}
	b := &alert.Breakdown{SelfTime: max(0, req.Wall-res.Time.Children)}
	for i, g := range c.order {
		cg := g.ChildGroup
		cg.Busy, cg.Pattern = res.Busy[i], res.Patterns[i]
		b.Children = append(b.Children, cg)
	}
	slices.SortFunc(b.Children, func(x, y alert.ChildGroup) int {
		return cmp.Or(cmp.Compare(y.Total, x.Total), cmp.Compare(x.Offset, y.Offset),
			cmp.Compare(x.Name, y.Name), cmp.Compare(x.Description, y.Description))
	})
	b.Children = b.Children[:min(len(b.Children), maxChildGroups)]
	b.Spans, b.SpansOmitted = c.timeline(b.Children)
	return b, res.Diagnosis
}

// timeline places the child spans on the request's timeline by start, the
// first alert.MaxTimelineSpans of them, each with its group's index in
// listed (-1 when its group is not listed).
func (c *children) timeline(listed []alert.ChildGroup) ([]alert.ChildSpan, int) {
	pos := make(map[*childGroup]int, len(listed))
	for _, g := range c.order {
		pos[g] = -1
		for i := range listed {
			if listed[i].Kind == g.Kind && listed[i].Name == g.Name && listed[i].Description == g.Description {
				pos[g] = i
				break
			}
		}
	}
	spans := slices.Clone(c.spans)
	slices.SortStableFunc(spans, func(a, b childSpan) int { return cmp.Compare(a.start, b.start) })
	n := min(len(spans), alert.MaxTimelineSpans)
	out := make([]alert.ChildSpan, n)
	for i, sp := range spans[:n] {
		out[i] = alert.ChildSpan{
			Group:    pos[sp.group],
			Offset:   time.Duration(sp.start - c.start),
			Duration: time.Duration(sp.end - sp.start),
		}
	}
	return out, len(spans) - n + c.overflow
}

func kindName(k ptrace.SpanKind) string {
	switch k {
	case ptrace.SpanKindServer:
		return "server"
	case ptrace.SpanKindClient:
		return "client"
	case ptrace.SpanKindProducer:
		return "producer"
	case ptrace.SpanKindConsumer:
		return "consumer"
	case ptrace.SpanKindInternal:
		return "internal"
	}
	return "unspecified"
}

func attrStr(m pcommon.Map, keys ...string) string {
	for _, k := range keys {
		if v, ok := m.Get(k); ok && v.Type() == pcommon.ValueTypeStr && v.Str() != "" {
			return v.Str()
		}
	}
	return ""
}

// describe summarises what a child span did, across old and new semantic
// conventions: the database and query, the HTTP call, the messaging
// destination or the RPC; and classifies it for the diagnosis, with the
// database system of a query.
func describe(kind ptrace.SpanKind, a pcommon.Map) (desc string, class diagnosis.Class, system string) {
	var parts []string
	class = diagnosis.ClassRemote
	switch {
	case attrStr(a, "db.system.name", "db.system") != "":
		system = sanitize(attrStr(a, "db.system.name", "db.system"), maxDescription)
		class = diagnosis.ClassDB
		parts = append(parts, system)
		if q := attrStr(a, "db.query.summary"); q != "" {
			parts = append(parts, q)
		} else if q := attrStr(a, "db.query.text", "db.statement"); q != "" {
			parts = append(parts, summarizeQuery(q))
		} else {
			parts = append(parts, attrStr(a, "db.operation.name", "db.operation"), attrStr(a, "db.collection.name", "db.sql.table"))
		}
	case attrStr(a, "http.request.method", "http.method") != "":
		parts = append(parts, route.Method(attrStr(a, "http.request.method", "http.method")))
		full := attrStr(a, "url.full", "http.url")
		parts = append(parts, attrStr(a, "server.address", "net.peer.name", "http.host"))
		if t := attrStr(a, "url.template", "http.route"); t != "" {
			parts = append(parts, t)
		} else if full != "" {
			parts = append(parts, route.URLRoute(full))
		}
	case attrStr(a, "messaging.system") != "":
		parts = append(parts, attrStr(a, "messaging.system"), attrStr(a, "messaging.destination.name", "messaging.destination"))
	case attrStr(a, "rpc.system") != "":
		parts = append(parts, attrStr(a, "rpc.system"), attrStr(a, "rpc.service")+"/"+attrStr(a, "rpc.method"))
	default:
		// A client or producer span without the attributes above still
		// calls out; anything else is the app's own work.
		if kind != ptrace.SpanKindClient && kind != ptrace.SpanKindProducer {
			class = diagnosis.ClassInternal
		}
	}
	var b strings.Builder
	for _, p := range parts {
		if p == "" {
			continue
		}
		if b.Len() > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(p)
		if b.Len() > 4*maxDescription {
			break
		}
	}
	return sanitize(b.String(), maxDescription), class, system
}

// summarizeQuery collapses whitespace and replaces literals with ?, so the
// same statement with other values groups together and no value (a user's
// email, say) reaches an alert.
func summarizeQuery(q string) string {
	if len(q) > 4*maxDescription {
		q = q[:4*maxDescription]
	}
	var b strings.Builder
	space := false
	for i := 0; i < len(q); i++ {
		ch := q[i]
		switch {
		case ch == '\'' || ch == '"':
			// A quoted literal; a doubled quote inside ('x''y') is part of it.
			j := i + 1
			for j < len(q) {
				if q[j] == ch {
					if j+1 < len(q) && q[j+1] == ch {
						j += 2
						continue
					}
					break
				}
				j++
			}
			b.WriteByte('?')
			i = j
			space = false
		case ch >= '0' && ch <= '9' && (i == 0 || !isIdent(q[i-1])):
			for i+1 < len(q) && (q[i+1] >= '0' && q[i+1] <= '9' || q[i+1] == '.') {
				i++
			}
			b.WriteByte('?')
			space = false
		case unicode.IsSpace(rune(ch)):
			if !space && b.Len() > 0 {
				b.WriteByte(' ')
			}
			space = true
		default:
			b.WriteByte(ch)
			space = false
		}
	}
	return collapseLists(strings.TrimSpace(b.String()))
}

// listOfLiterals is a parenthesised list of replaced literals: "(?, ?, ?)".
var listOfLiterals = regexp.MustCompile(`\(\s?\?(?:\s?,\s?\?)*\s?\)`)

// collapseLists makes "IN (?, ?, ?)" and "IN (?)" one statement, so a query
// run with lists of different lengths still groups (the N+1 with batches).
func collapseLists(q string) string {
	if !strings.Contains(q, "?,") && !strings.Contains(q, "? ,") {
		return q
	}
	return listOfLiterals.ReplaceAllString(q, "(?)")
}

// isIdent: a digit after one of these is part of a name or a placeholder
// ($1), not a literal.
func isIdent(c byte) bool {
	return c == '_' || c == '$' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}
