package engine

import (
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/slowspan/slowspan/alert"
	"github.com/slowspan/slowspan/internal/route"
)

// maxServiceLen bounds the service part of a key.
const maxServiceLen = 256

// serviceOf reads the service name of one resource once, however many of
// its spans are slow: the key's first part.
type serviceOf struct {
	rs   ptrace.ResourceSpans
	name string
}

func (s *serviceOf) reset(rs ptrace.ResourceSpans) { s.rs, s.name = rs, "" }

func (s *serviceOf) get() string {
	if s.name == "" {
		s.name = "unknown_service"
		if v, ok := s.rs.Resource().Attributes().Get("service.name"); ok && v.Type() == pcommon.ValueTypeStr && v.Str() != "" {
			s.name = sanitize(v.Str(), maxServiceLen)
		}
	}
	return s.name
}

// keyOf is the endpoint a slow span alerts for: one alert per key per
// window. The method and route come from route.Extract, which bounds and
// normalises them.
func keyOf(service string, info route.Info) alert.Key {
	return alert.Key{Service: service, Method: info.Method, Route: info.Route}
}
