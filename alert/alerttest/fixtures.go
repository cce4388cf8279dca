package alerttest

import (
	"fmt"
	"time"

	"github.com/slowspan/slowspan/alert"
)

// Start is the fixed time the fixtures' alerts start at, so golden files do
// not change from one run to the next.
var Start = time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)

// Numbered is a small first alert of GET /orders/{id} on checkout with its
// own trace and span ids (from i), so its own ID, starting i seconds after
// Start.
func Numbered(i int) alert.Alert {
	traceID := fmt.Sprintf("%032x", i+1)
	spanID := fmt.Sprintf("%016x", i+1)
	return alert.Alert{
		ID:        alert.NewID(traceID, spanID, alert.ReasonFirst),
		Key:       alert.Key{Service: "checkout", Method: "GET", Route: "/orders/{id}"},
		Reason:    alert.ReasonFirst,
		SpanName:  "GET /orders/{id}",
		Duration:  2400 * time.Millisecond,
		Threshold: 500 * time.Millisecond,
		TraceID:   traceID,
		SpanID:    spanID,
		Start:     Start.Add(time.Duration(i) * time.Second),
		Attributes: map[string]string{
			"http.route":                "/orders/{id}",
			"http.response.status_code": "200",
		},
		Resource: map[string]string{"service.name": "checkout"},
	}
}

// Profiled is Numbered(i) with a trace link, a breakdown of two child
// groups and a CPU profile with stacks: enough for a flame graph, a pprof
// file and every section of a message.
func Profiled(i int) alert.Alert {
	a := Numbered(i)
	a.Links = alert.Links{Trace: "http://localhost:16686/trace/" + a.TraceID}
	a.Breakdown = &alert.Breakdown{
		SelfTime: 400 * time.Millisecond,
		Children: orderChildren(),
	}
	a.Profile = &alert.Profile{
		Source: "otlp_link", CPUTime: 620 * time.Millisecond, WallTime: 2400 * time.Millisecond, Samples: 62,
		TopFunctions: []alert.Function{{Name: "main.loadOrder", Self: 0.2, Total: 0.9}},
		HottestFrame: "main.loadOrder",
		Stacks: []alert.Stack{
			{Frames: []string{"net/http.(*conn).serve", "main.handleOrder", "main.loadOrder"}, Value: 38 * int64(10*time.Millisecond)},
			{Frames: []string{"net/http.(*conn).serve", "runtime.mallocgc"}, Value: 24 * int64(10*time.Millisecond)},
		},
	}
	return a
}

// Full is an alert with every field set (a window_expired alert with
// suppressed requests, three child groups, a profile of four stacks), for
// renderers' golden files and layout checks.
func Full() alert.Alert {
	traceID, spanID := "0102030405060708090a0b0c0d0e0f10", "0102030405060708"
	return alert.Alert{
		ID:        alert.NewID(traceID, spanID, alert.ReasonWindowExpired),
		Key:       alert.Key{Service: "checkout", Method: "GET", Route: "/orders/{id}"},
		Reason:    alert.ReasonWindowExpired,
		Rule:      "/orders/*",
		SpanName:  "GET /orders/{id}",
		Duration:  2400 * time.Millisecond,
		Threshold: 500 * time.Millisecond,
		TraceID:   traceID,
		SpanID:    spanID,
		Start:     Start,
		Attributes: map[string]string{
			"http.route":                "/orders/{id}",
			"http.response.status_code": "200",
			"url.path":                  "/orders/7",
		},
		Resource: map[string]string{"service.name": "checkout", "service.version": "1.4.2"},
		Suppressed: alert.Suppressed{
			Count:       41,
			MaxDuration: 3100 * time.Millisecond,
			Since:       Start.Add(-240 * time.Hour),
		},
		Links: alert.Links{Trace: "http://localhost:16686/trace/" + traceID},
		Breakdown: &alert.Breakdown{
			SelfTime: 400 * time.Millisecond,
			Children: append(orderChildren(), alert.ChildGroup{Kind: "internal", Name: "render", Count: 1,
				Total: 50 * time.Millisecond, Max: 50 * time.Millisecond, Offset: 2300 * time.Millisecond}),
		},
		Profile: &alert.Profile{
			Source:   "otlp_link",
			CPUTime:  620 * time.Millisecond,
			WallTime: 2400 * time.Millisecond,
			Samples:  62,
			TopFunctions: []alert.Function{
				{Name: "encoding/json.(*decodeState).object", Self: 0.42, Total: 0.55},
				{Name: "main.loadOrder", Self: 0.2, Total: 0.9},
			},
			HottestFrame: "main.loadOrder",
			Stacks: []alert.Stack{
				{Frames: []string{"net/http.(*conn).serve", "main.handleOrder", "main.loadOrder", "encoding/json.Unmarshal", "encoding/json.(*decodeState).object"}, Value: 26 * int64(10*time.Millisecond)},
				{Frames: []string{"net/http.(*conn).serve", "main.handleOrder", "main.loadOrder"}, Value: 12 * int64(10*time.Millisecond)},
				{Frames: []string{"net/http.(*conn).serve", "main.handleOrder", "main.render", "html/template.(*Template).Execute"}, Value: 15 * int64(10*time.Millisecond)},
				{Frames: []string{"net/http.(*conn).serve", "runtime.mallocgc"}, Value: 9 * int64(10*time.Millisecond)},
			},
		},
	}
}

// orderChildren are the child groups of loading an order: 42 identical
// queries (an N+1) and one call to another service.
func orderChildren() []alert.ChildGroup {
	return []alert.ChildGroup{
		{Kind: "client", Name: "SELECT orders", Description: "postgresql SELECT orders WHERE id = ?", Count: 42,
			Total: 1500 * time.Millisecond, Max: 90 * time.Millisecond, Offset: 50 * time.Millisecond},
		{Kind: "client", Name: "GET", Description: "GET inventory:8080 /stock/{sku}", Count: 1,
			Total: 450 * time.Millisecond, Max: 450 * time.Millisecond, Offset: 1600 * time.Millisecond},
	}
}

// Incident is an incident alert of schema 2: GET /orders/{id} on checkout
// whose p99 over 5 minutes crossed the threshold (reason quantile), with the
// incident and the window figures, histogram included. Its span is Full's,
// without breakdown or profile.
func Incident() alert.Alert {
	a := Full()
	a.Reason = alert.ReasonQuantile
	a.ID = alert.NewID(a.TraceID, a.SpanID, a.Reason)
	a.Suppressed = alert.Suppressed{}
	a.Breakdown, a.Profile = nil, nil
	opened := Start.Add(-10 * time.Minute)
	a.Incident = &alert.Incident{
		ID: alert.NewIncidentID(a.Key, opened), State: alert.IncidentFiring, Mode: alert.ModeQuantile,
		OpenedAt: opened, Fired: alert.Figure{Duration: 2100 * time.Millisecond},
		Peak: alert.Figure{Duration: 2600 * time.Millisecond}, SlowCount: 84,
	}
	a.Window = &alert.WindowFigures{
		Over: 5 * time.Minute, Count: 1184, SlowCount: 84,
		P50: 120 * time.Millisecond, P90: 480 * time.Millisecond, P95: 900 * time.Millisecond,
		P99: 2100 * time.Millisecond, Max: 3400 * time.Millisecond,
		Quantile: 0.99, QuantileValue: 2100 * time.Millisecond,
		Histogram: alert.CompactHistogram(
			[]time.Duration{100 * time.Millisecond, 250 * time.Millisecond, 500 * time.Millisecond, time.Second, 2 * time.Second, alert.Unbounded},
			[]int64{700, 220, 180, 40, 40, 4}, 0),
	}
	return a
}
