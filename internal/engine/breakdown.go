package engine

import (
	"cmp"
	"slices"
	"strings"
	"time"
	"unicode"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/slowspan/slowspan/alert"
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
// SELECTs become one line, the N+1 case.
type children struct {
	start, end uint64 // the parent's timestamps
	groups     map[groupKey]*alert.ChildGroup
	intervals  [][2]uint64
	overflow   int
	// bytes estimates the memory the groups and intervals hold, for the
	// pending set's byte bound.
	bytes int64
}

// Memory estimates for the byte bound of waiting alerts: a group's struct,
// map slot and key, and one interval.
const (
	groupBytes    = 256
	intervalBytes = 16
)

type groupKey struct{ kind, name, desc string }

func newChildren(parent ptrace.Span) *children {
	return &children{
		start:  uint64(parent.StartTimestamp()),
		end:    uint64(parent.EndTimestamp()),
		groups: make(map[groupKey]*alert.ChildGroup),
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
	k := groupKey{
		kind: kindName(span.Kind()),
		name: sanitize(span.Name(), maxDescription),
		desc: describe(span.Attributes()),
	}
	g, ok := c.groups[k]
	if !ok {
		if len(c.groups) >= maxTrackedGroups {
			c.overflow++
			return
		}
		g = &alert.ChildGroup{Kind: k.kind, Name: k.name, Description: k.desc, Offset: offset}
		c.groups[k] = g
		c.bytes += groupBytes + int64(len(k.kind)+len(k.name)+len(k.desc))
	}
	g.Count++
	g.Total += dur
	g.Max = max(g.Max, dur)
	g.Offset = min(g.Offset, offset)
	if len(c.intervals) < maxChildIntervals {
		c.intervals = append(c.intervals, [2]uint64{max(s, c.start), min(e, c.end)})
		c.bytes += intervalBytes
	}
}

// breakdown returns the slowest groups and the parent's self time (its
// duration not covered by any child), nil when no child was seen.
func (c *children) breakdown() *alert.Breakdown {
	if len(c.groups) == 0 {
		return nil
	}
	b := &alert.Breakdown{SelfTime: time.Duration(c.end-c.start) - c.covered()}
	for _, g := range c.groups {
		b.Children = append(b.Children, *g)
	}
	slices.SortFunc(b.Children, func(x, y alert.ChildGroup) int {
		return cmp.Or(cmp.Compare(y.Total, x.Total), cmp.Compare(x.Offset, y.Offset),
			cmp.Compare(x.Name, y.Name), cmp.Compare(x.Description, y.Description))
	})
	b.Children = b.Children[:min(len(b.Children), maxChildGroups)]
	return b
}

// covered is the length of the union of the children's intervals within
// the parent: concurrent children count once.
func (c *children) covered() time.Duration {
	iv := slices.Clone(c.intervals)
	slices.SortFunc(iv, func(a, b [2]uint64) int { return cmp.Compare(a[0], b[0]) })
	var total, curS, curE uint64
	open := false
	for _, x := range iv {
		if x[1] <= x[0] {
			continue
		}
		if !open || x[0] > curE {
			if open {
				total += curE - curS
			}
			curS, curE, open = x[0], x[1], true
			continue
		}
		curE = max(curE, x[1])
	}
	if open {
		total += curE - curS
	}
	return time.Duration(total)
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
// destination or the RPC.
func describe(a pcommon.Map) string {
	var parts []string
	switch {
	case attrStr(a, "db.system.name", "db.system") != "":
		parts = append(parts, attrStr(a, "db.system.name", "db.system"))
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
	return sanitize(b.String(), maxDescription)
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
	return strings.TrimSpace(b.String())
}

// isIdent: a digit after one of these is part of a name or a placeholder
// ($1), not a literal.
func isIdent(c byte) bool {
	return c == '_' || c == '$' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}
