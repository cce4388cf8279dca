package markdown

import (
	"sort"

	"github.com/slowspan/slowspan/alert"
)

// withReport appends the report link to the alert's links.
func withReport(r renderer, links, reportURL string) string {
	if reportURL == "" {
		return links
	}
	l := r.link("Open report", reportURL)
	if links == "" {
		return l
	}
	return links + " · " + l
}

// shownAttributes picks the attributes to show: with an allowlist, those of
// its names that the span (or else the resource) has, in its order; without
// one, every span attribute, sorted.
func shownAttributes(a alert.Alert, allow []string) ([]string, map[string]string) {
	if allow == nil {
		keys := make([]string, 0, len(a.Attributes))
		for k := range a.Attributes {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		return keys, a.Attributes
	}
	var keys []string
	values := map[string]string{}
	for _, k := range allow {
		if _, dup := values[k]; dup {
			continue
		}
		v, ok := a.Attributes[k]
		if !ok {
			v, ok = a.Resource[k]
		}
		if ok {
			keys = append(keys, k)
			values[k] = v
		}
	}
	return keys, values
}
