package engine

import (
	"strings"
	"time"

	"github.com/slowspan/slowspan/internal/glob"
	"github.com/slowspan/slowspan/internal/route"
)

// selector is the first stage: is the span of a selected kind, and over the
// threshold of its route? Engine.scan checks kinds and minNs for every span
// (from locals: that loop is the cost of a fast span); match runs for
// the few that may be slow.
type selector struct {
	kinds  uint8  // bit per ptrace.SpanKind examined
	minNs  uint64 // the smallest threshold: faster spans cost one compare
	global time.Duration
	rules  []rule
}

type rule struct {
	match     *glob.Pattern
	methods   []string
	threshold time.Duration
}

func newSelector(cfg *Config) selector {
	s := selector{global: cfg.Threshold, minNs: uint64(cfg.Threshold)}
	for _, k := range cfg.SpanKinds {
		kind, _ := parseSpanKind(k)
		s.kinds |= 1 << uint(kind)
	}
	for _, r := range cfg.Routes {
		compiled := rule{match: glob.MustCompile(r.Match), threshold: r.Threshold}
		for _, m := range r.Methods {
			compiled.methods = append(compiled.methods, strings.ToUpper(strings.TrimSpace(m)))
		}
		s.rules = append(s.rules, compiled)
		s.minNs = min(s.minNs, uint64(r.Threshold))
	}
	return s
}

// match returns the threshold of the first routes rule matching the route
// or the raw path, the rule's pattern and its index, else the global
// threshold, "" and -1.
func (s *selector) match(info route.Info) (time.Duration, string, int) {
	for i := range s.rules {
		r := &s.rules[i]
		if len(r.methods) > 0 && !contains(r.methods, info.Method) {
			continue
		}
		if r.match.Match(info.Route) || (info.Path != "" && r.match.Match(info.Path)) {
			return r.threshold, r.match.String(), i
		}
	}
	return s.global, "", -1
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
