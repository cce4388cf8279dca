package engine

import (
	"github.com/slowspan/slowspan/internal/glob"
	"github.com/slowspan/slowspan/internal/route"
)

// filter applies include and exclude to the route and the raw path.
type filter struct {
	include, exclude *glob.Set
}

func newFilter(cfg *Config) (filter, error) {
	var f filter
	var err error
	if f.include, err = glob.CompileSet(cfg.Include); err != nil {
		return f, err
	}
	f.exclude, err = glob.CompileSet(cfg.Exclude)
	return f, err
}

// keep reports whether a slow span with info may alert: include is empty or
// matches, and exclude does not match.
func (f *filter) keep(info route.Info) bool {
	matches := func(s *glob.Set) bool {
		return s.Match(info.Route) || (info.Path != "" && s.Match(info.Path))
	}
	if f.include.Len() > 0 && !matches(f.include) {
		return false
	}
	return !matches(f.exclude)
}
