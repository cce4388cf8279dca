package engine

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/slowspan/slowspan/alert"
)

var t0 = time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)

// span describes one test span.
type span struct {
	service string
	kind    ptrace.SpanKind
	name    string
	dur     time.Duration
	attrs   map[string]any
	id      byte
}

func server(dur time.Duration, attrs map[string]any) span {
	return span{service: "shop", kind: ptrace.SpanKindServer, name: "GET", dur: dur, attrs: attrs}
}

func build(t testing.TB, spans ...span) ptrace.Traces {
	t.Helper()
	td := ptrace.NewTraces()
	bySvc := map[string]ptrace.SpanSlice{}
	for i, s := range spans {
		ss, ok := bySvc[s.service]
		if !ok {
			rs := td.ResourceSpans().AppendEmpty()
			if s.service != "" {
				rs.Resource().Attributes().PutStr("service.name", s.service)
			}
			scope := rs.ScopeSpans().AppendEmpty()
			scope.Scope().SetName("go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp")
			ss = scope.Spans()
			bySvc[s.service] = ss
		}
		sp := ss.AppendEmpty()
		id := s.id
		if id == 0 {
			id = byte(i + 1)
		}
		sp.SetTraceID(pcommon.TraceID{id, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15})
		sp.SetSpanID(pcommon.SpanID{id, 1, 2, 3, 4, 5, 6, 7})
		sp.SetKind(s.kind)
		sp.SetName(s.name)
		sp.SetStartTimestamp(pcommon.NewTimestampFromTime(t0))
		sp.SetEndTimestamp(pcommon.NewTimestampFromTime(t0.Add(s.dur)))
		require.NoError(t, sp.Attributes().FromRaw(s.attrs))
	}
	return td
}

type clock struct{ now time.Time }

func (c *clock) Now() time.Time { return c.now }

func newEngine(t testing.TB, mutate func(*Config)) (*Engine, *clock) {
	t.Helper()
	cfg := NewDefaultConfig()
	if mutate != nil {
		mutate(cfg)
	}
	c := &clock{now: t0}
	e, err := New(cfg, Settings{Now: c.Now})
	require.NoError(t, err)
	return e, c
}

func alerts(res Batch) []alert.Alert {
	if res.Alerts == 0 {
		return nil
	}
	var out []alert.Alert
	for a := range alert.All(res.Traces) {
		out = append(out, a)
	}
	return out
}

func TestSelection(t *testing.T) {
	route := map[string]any{"http.route": "/r"}
	tests := []struct {
		name  string
		kinds []string
		span  span
		want  bool
	}{
		{"slow server", nil, server(2*time.Second, route), true},
		{"exactly the threshold", nil, server(time.Second, route), true},
		{"fast server", nil, server(999*time.Millisecond, route), false},
		{"slow client ignored by default", nil, span{service: "s", kind: ptrace.SpanKindClient, dur: 5 * time.Second, attrs: route}, false},
		{"slow internal ignored", nil, span{service: "s", kind: ptrace.SpanKindInternal, dur: 5 * time.Second, attrs: route}, false},
		{"client when selected", []string{"client"}, span{service: "s", kind: ptrace.SpanKindClient, dur: 5 * time.Second, attrs: route}, true},
		{"kind names are case-insensitive", []string{"SPAN_KIND_CONSUMER"}, span{service: "s", kind: ptrace.SpanKindConsumer, dur: 5 * time.Second, attrs: route}, true},
		{"unspecified kind", nil, span{service: "s", kind: ptrace.SpanKindUnspecified, dur: 5 * time.Second, attrs: route}, false},
		{"hostile negative kind", nil, span{service: "s", kind: ptrace.SpanKind(-7), dur: 5 * time.Second, attrs: route}, false},
		{"hostile huge kind", nil, span{service: "s", kind: ptrace.SpanKind(1 << 30), dur: 5 * time.Second, attrs: route}, false},
		{"end before start", nil, server(-5*time.Second, route), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, _ := newEngine(t, func(c *Config) {
				if tt.kinds != nil {
					c.SpanKinds = tt.kinds
				}
			})
			res := e.Process(t.Context(), build(t, tt.span), 0)
			assert.Equal(t, tt.want, res.Alerts == 1)
			assert.EqualValues(t, 1, res.Stats.Spans)
		})
	}
}

func TestRouteRules(t *testing.T) {
	e, _ := newEngine(t, func(c *Config) {
		c.Threshold = time.Second
		c.Routes = []RouteRule{
			{Match: "/reports/*", Threshold: 10 * time.Second},
			{Match: "/checkout", Methods: []string{"post"}, Threshold: 200 * time.Millisecond},
			{Match: "/reports/daily", Threshold: 50 * time.Millisecond}, // shadowed: first match wins
			{Match: "/raw/*/x", Threshold: 100 * time.Millisecond},      // matches the raw path
		}
	})
	tests := []struct {
		name      string
		span      span
		alert     bool
		threshold time.Duration
		rule      string
	}{
		{"long rule not reached", server(5*time.Second, map[string]any{"http.route": "/reports/{id}"}), false, 0, ""},
		{"long rule reached", server(11*time.Second, map[string]any{"http.route": "/reports/monthly"}), true, 10 * time.Second, "/reports/*"},
		{"first match wins", server(time.Second, map[string]any{"http.route": "/reports/daily"}), false, 0, ""},
		{"method-scoped rule", server(300*time.Millisecond, map[string]any{"http.route": "/checkout", "http.request.method": "POST"}), true, 200 * time.Millisecond, "/checkout"},
		{"method-scoped rule, other method", server(300*time.Millisecond, map[string]any{"http.route": "/checkout", "http.request.method": "GET"}), false, 0, ""},
		{"global threshold", server(1500*time.Millisecond, map[string]any{"http.route": "/other"}), true, time.Second, ""},
		{"rule over the raw path", server(150*time.Millisecond, map[string]any{"url.path": "/raw/77/x"}), true, 100 * time.Millisecond, "/raw/*/x"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := alerts(e.Process(t.Context(), build(t, tt.span), 0))
			if !tt.alert {
				assert.Empty(t, got)
				return
			}
			require.Len(t, got, 1)
			assert.Equal(t, tt.threshold, got[0].Threshold)
			assert.Equal(t, tt.rule, got[0].Rule)
		})
	}
}

func TestRouteSourcesMakeKeys(t *testing.T) {
	tests := []struct {
		name   string
		sp     span
		method string
		route  string
	}{
		{"http.route", server(2*time.Second, map[string]any{"http.route": "/users/{id}", "http.request.method": "GET", "url.path": "/users/7"}), "GET", "/users/{id}"},
		{"url.path normalised", server(2*time.Second, map[string]any{"url.path": "/users/42/orders/9", "http.method": "post"}), "POST", "/users/{id}/orders/{id}"},
		{"http.target query stripped", server(2*time.Second, map[string]any{"http.target": "/search?q=secret"}), "", "/search"},
		{"url.full", server(2*time.Second, map[string]any{"url.full": "https://shop.example:8443/items/123?token=x"}), "", "/items/{id}"},
		{"http.url", server(2*time.Second, map[string]any{"http.url": "http://h/a/b"}), "", "/a/b"},
		{"span name fallback", span{service: "grpc", kind: ptrace.SpanKindServer, name: "shop.Cart/Checkout", dur: 2 * time.Second}, "", "shop.Cart/Checkout"},
		{"no service name", span{kind: ptrace.SpanKindServer, name: "x", dur: 2 * time.Second, attrs: map[string]any{"http.route": "/x"}}, "", "/x"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, _ := newEngine(t, nil)
			got := alerts(e.Process(t.Context(), build(t, tt.sp), 0))
			require.Len(t, got, 1)
			assert.Equal(t, tt.method, got[0].Key.Method)
			assert.Equal(t, tt.route, got[0].Key.Route)
			if tt.sp.service == "" {
				assert.Equal(t, "unknown_service", got[0].Key.Service)
			} else {
				assert.Equal(t, tt.sp.service, got[0].Key.Service)
			}
		})
	}
}

func TestFilters(t *testing.T) {
	tests := []struct {
		name    string
		include []string
		exclude []string
		attrs   map[string]any
		want    bool
	}{
		{"no filters", nil, nil, map[string]any{"http.route": "/anything"}, true},
		{"star crosses slashes", []string{"/api/*"}, nil, map[string]any{"url.path": "/api/users/7"}, true},
		{"star one level", []string{"/api/*"}, nil, map[string]any{"http.route": "/api/users"}, true},
		{"include miss", []string{"/api/*"}, nil, map[string]any{"http.route": "/web/home"}, false},
		{"suffix", []string{"*/health"}, nil, map[string]any{"http.route": "/v1/health"}, true},
		{"plain is exact", []string{"/api"}, nil, map[string]any{"http.route": "/api/x"}, false},
		{"plain exact hit", []string{"/api"}, nil, map[string]any{"http.route": "/api"}, true},
		{"exclude wins", []string{"/api/*"}, []string{"*/health"}, map[string]any{"http.route": "/api/health"}, false},
		{"exclude by raw path", nil, []string{"/users/me"}, map[string]any{"http.route": "/users/{id}", "url.path": "/users/me"}, false},
		{"include by raw path", []string{"/users/42"}, nil, map[string]any{"url.path": "/users/42"}, true},
		{"question mark", []string{"/v?/items"}, nil, map[string]any{"http.route": "/v2/items"}, true},
		{"class", []string{"/v[12]/items"}, nil, map[string]any{"http.route": "/v3/items"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, _ := newEngine(t, func(c *Config) { c.Include, c.Exclude = tt.include, tt.exclude })
			res := e.Process(t.Context(), build(t, server(2*time.Second, tt.attrs)), 0)
			assert.Equal(t, tt.want, res.Alerts == 1)
			assert.EqualValues(t, 1, res.Stats.Slow)
			if !tt.want {
				assert.EqualValues(t, 1, res.Stats.Filtered)
			}
		})
	}
}

func TestDedupAcrossBatches(t *testing.T) {
	e, clk := newEngine(t, nil)
	attrs := map[string]any{"http.route": "/users/{id}", "http.request.method": "GET"}
	first := alerts(e.Process(t.Context(), build(t, server(2*time.Second, attrs)), 0))
	require.Len(t, first, 1)
	assert.Equal(t, alert.ReasonFirst, first[0].Reason)

	// Same key in one batch twice and another service: one new alert.
	res := e.Process(t.Context(), build(t, server(3*time.Second, attrs), server(2500*time.Millisecond, attrs),
		span{service: "other", kind: ptrace.SpanKindServer, dur: 2 * time.Second, attrs: attrs}), 0)
	got := alerts(res)
	require.Len(t, got, 1)
	assert.Equal(t, "other", got[0].Key.Service)
	assert.EqualValues(t, 2, res.Stats.Suppressed)

	// Escalation: twice the last alerted duration.
	got = alerts(e.Process(t.Context(), build(t, server(4*time.Second, attrs)), 0))
	require.Len(t, got, 1)
	assert.Equal(t, alert.ReasonEscalation, got[0].Reason)
	assert.EqualValues(t, 2, got[0].Suppressed.Count)
	assert.Equal(t, 3*time.Second, got[0].Suppressed.MaxDuration)

	clk.now = clk.now.Add(240 * time.Hour)
	got = alerts(e.Process(t.Context(), build(t, server(time.Second, attrs)), 0))
	require.Len(t, got, 1)
	assert.Equal(t, alert.ReasonWindowExpired, got[0].Reason)
	assert.Equal(t, t0, got[0].Suppressed.Since)
	assert.Equal(t, 2, e.Keys())
}

func TestAbortRealerts(t *testing.T) {
	e, _ := newEngine(t, nil)
	td := build(t, server(2*time.Second, map[string]any{"http.route": "/a"}))
	res := e.Process(t.Context(), td, 0)
	require.Equal(t, 1, res.Alerts)
	id := alerts(res)[0].ID
	res.Rollback()
	again := alerts(e.Process(t.Context(), td, 0))
	require.Len(t, again, 1, "a refused alert fires again on retry")
	assert.Equal(t, id, again[0].ID, "with the same id, so delivery stays idempotent")
}

func TestAlertSpanContents(t *testing.T) {
	e, _ := newEngine(t, func(c *Config) {
		c.Links.Trace = "http://jaeger:16686/trace/{{.TraceID}}?svc={{.Service | urlquery}}"
		c.Redact.Attributes = append(c.Redact.Attributes, "User.Email")
	})
	td := build(t, server(2*time.Second, map[string]any{
		"http.route":                        "/login",
		"url.full":                          "https://shop/login?password=hunter2#frag",
		"http.target":                       "/login?password=hunter2",
		"url.query":                         "password=hunter2",
		"http.request.header.authorization": []any{"Bearer secret"},
		"HTTP.Request.Header.Cookie":        "session=abc",
		"user.email":                        "a@b.c",
		"slowspan.alert.reason":             "forged",
		"slowspan.forged":                   "x",
		"http.response.status_code":         500,
	}))
	td.ResourceSpans().At(0).Resource().Attributes().PutStr("service.name", "shop & co")
	td.ResourceSpans().At(0).ScopeSpans().At(0).Spans().At(0).SetName("GET /login?password=hunter2")
	before := ptrace.NewTraces()
	td.CopyTo(before)

	res := e.Process(t.Context(), td, 0)
	assert.Equal(t, before, td, "the input is never modified")
	require.Equal(t, 1, res.Alerts)

	out := res.Traces.ResourceSpans().At(0)
	assert.Equal(t, "otelhttp", out.ScopeSpans().At(0).Scope().Name()[len(out.ScopeSpans().At(0).Scope().Name())-8:])
	sp := out.ScopeSpans().At(0).Spans().At(0)
	a, ok := alert.Decode(out.Resource(), sp)
	require.True(t, ok)
	assert.Equal(t, "GET /login", a.SpanName)
	assert.Equal(t, "https://shop/login", a.Attributes["url.full"])
	assert.Equal(t, "/login", a.Attributes["http.target"])
	for _, k := range []string{"url.query", "http.request.header.authorization", "HTTP.Request.Header.Cookie", "user.email", "slowspan.forged"} {
		assert.NotContains(t, a.Attributes, k)
		_, present := sp.Attributes().Get(k)
		assert.False(t, present, k)
	}
	assert.Equal(t, alert.ReasonFirst, a.Reason, "a forged reason is overwritten")
	assert.Equal(t, "500", a.Attributes["http.response.status_code"])
	assert.Equal(t, "http://jaeger:16686/trace/"+a.TraceID+"?svc=shop+%26+co", a.Links.Trace)
	assert.Equal(t, alert.NewID(a.TraceID, a.SpanID, alert.ReasonFirst), a.ID)
	assert.Equal(t, time.Second, a.Threshold)
	assert.Equal(t, 2*time.Second, a.Duration)
	assert.Equal(t, "shop & co", a.Resource["service.name"])
}

func TestOutputCarriesResourceAndScope(t *testing.T) {
	e, _ := newEngine(t, nil)
	td := build(t,
		server(2*time.Second, map[string]any{"http.route": "/a"}),
		server(10*time.Millisecond, map[string]any{"http.route": "/b"}),
		server(2*time.Second, map[string]any{"http.route": "/c"}),
		span{service: "other", kind: ptrace.SpanKindServer, dur: 3 * time.Second, attrs: map[string]any{"http.route": "/a"}},
	)
	res := e.Process(t.Context(), td, 0)
	require.Equal(t, 3, res.Alerts)
	// One resource entry per alert, each with its resource and scope.
	rss := res.Traces.ResourceSpans()
	require.Equal(t, 3, rss.Len())
	var services []string
	for i := 0; i < rss.Len(); i++ {
		v, _ := rss.At(i).Resource().Attributes().Get("service.name")
		services = append(services, v.Str())
		assert.Equal(t, "go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp", rss.At(i).ScopeSpans().At(0).Scope().Name())
		assert.Equal(t, 1, rss.At(i).ScopeSpans().At(0).Spans().Len())
	}
	assert.Equal(t, []string{"shop", "shop", "other"}, services)
	assert.EqualValues(t, 4, res.Stats.Spans)
	assert.EqualValues(t, 3, res.Stats.Slow)
	assert.EqualValues(t, 3, res.Stats.AlertsFor(alert.ReasonFirst))
}

func TestHostileAttributes(t *testing.T) {
	e, _ := newEngine(t, nil)
	huge := strings.Repeat("/a1b2c3d4e5f6a7b8c9d0", 1<<16)
	td := build(t,
		server(2*time.Second, map[string]any{"http.route": huge}),
		server(2*time.Second, map[string]any{"url.full": "\xff\xfe://\x00/" + huge}),
		span{service: "shop", kind: ptrace.SpanKindServer, name: "\xffweird", dur: 2 * time.Second,
			attrs: map[string]any{"http.route": 42, "url.path": []any{"x"}, "http.request.method": map[string]any{}}},
		server(2*time.Second, map[string]any{"http.request.method": strings.Repeat("X", 1<<20), "http.route": "/m"}),
	)
	td.ResourceSpans().At(0).Resource().Attributes().PutStr("service.name", "\xff"+strings.Repeat("s", 1<<20))
	got := alerts(e.Process(t.Context(), td, 0))
	require.Len(t, got, 4)
	for _, a := range got {
		assert.LessOrEqual(t, len(a.Key.Route), 512)
		assert.LessOrEqual(t, len(a.Key.Service), maxServiceLen)
		assert.LessOrEqual(t, len(a.Key.Method), 16)
	}
}

func TestFastSpansAllocateNothing(t *testing.T) {
	e, _ := newEngine(t, func(c *Config) {
		c.Routes = []RouteRule{{Match: "/slow/*", Threshold: 500 * time.Millisecond}}
		c.Include = []string{"/api/*"}
	})
	var spans []span
	for i := range 500 {
		kind := ptrace.SpanKindServer
		if i%3 == 0 {
			kind = ptrace.SpanKindClient
		}
		spans = append(spans, span{service: "svc", kind: kind, dur: time.Duration(i) * time.Millisecond,
			attrs: map[string]any{"http.route": "/api/x", "url.path": "/api/x"}})
	}
	td := build(t, spans...)
	allocs := testing.AllocsPerRun(100, func() { _ = e.Process(t.Context(), td, 0) })
	assert.Zero(t, allocs)
}

func FuzzProcess(f *testing.F) {
	f.Add("/users/{id}", "/users/7?x=1", "GET", "svc", "name", int64(2e9), int32(2))
	f.Add("\xff", "http://\xff/?", "\x00", "", "", int64(-1), int32(-3))
	e, err := New(func() *Config {
		c := NewDefaultConfig()
		c.Include = []string{"/*", "*"}
		c.Exclude = []string{"*/health"}
		c.Routes = []RouteRule{{Match: "/a/*", Threshold: time.Millisecond}}
		c.Links.Trace = "http://x/{{.TraceID}}/{{.Route}}"
		return c
	}(), Settings{})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, routeAttr, full, method, service, name string, dur int64, kind int32) {
		td := ptrace.NewTraces()
		rs := td.ResourceSpans().AppendEmpty()
		rs.Resource().Attributes().PutStr("service.name", service)
		sp := rs.ScopeSpans().AppendEmpty().Spans().AppendEmpty()
		sp.SetKind(ptrace.SpanKind(kind))
		sp.SetName(name)
		sp.SetStartTimestamp(pcommon.Timestamp(1 << 40))
		sp.SetEndTimestamp(pcommon.Timestamp(uint64(1<<40 + dur)))
		sp.Attributes().PutStr("http.route", routeAttr)
		sp.Attributes().PutStr("url.full", full)
		sp.Attributes().PutStr("http.request.method", method)
		res := e.Process(t.Context(), td, 0)
		if res.Alerts == 0 {
			return
		}
		for a := range alert.All(res.Traces) {
			if strings.Contains(a.Attributes["url.full"], "?") {
				t.Fatalf("query survived: %q", a.Attributes["url.full"])
			}
		}
	})
}

func TestServiceNameLosesControlCharacters(t *testing.T) {
	e, _ := newEngine(t, nil)
	td := build(t, server(2*time.Second, map[string]any{"http.route": "/a"}))
	td.ResourceSpans().At(0).Resource().Attributes().PutStr("service.name", "shop\n\x1b[2Jevil")
	got := alerts(e.Process(t.Context(), td, 0))
	require.Len(t, got, 1)
	assert.Equal(t, "shop[2Jevil", got[0].Key.Service)
}
