package report

import (
	"time"

	"github.com/slowspan/slowspan/alert"
)

var testStart = time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)

// testAlert is a complete alert with fixed times, for golden files and the
// browser test.
func testAlert() alert.Alert {
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
		Start:     testStart,
		Attributes: map[string]string{
			"http.route":                "/orders/{id}",
			"http.response.status_code": "200",
			"url.path":                  "/orders/7",
		},
		Resource: map[string]string{"service.name": "checkout", "service.version": "1.4.2"},
		Suppressed: alert.Suppressed{
			Count:       41,
			MaxDuration: 3100 * time.Millisecond,
			Since:       testStart.Add(-240 * time.Hour),
		},
		Links: alert.Links{Trace: "http://localhost:16686/trace/" + traceID},
		Breakdown: &alert.Breakdown{
			SelfTime: 400 * time.Millisecond,
			Children: []alert.ChildGroup{
				{Kind: "client", Name: "SELECT orders", Description: "postgresql SELECT orders WHERE id = ?", Count: 42,
					Total: 1500 * time.Millisecond, Max: 90 * time.Millisecond, Offset: 50 * time.Millisecond},
				{Kind: "client", Name: "GET", Description: "GET inventory:8080 /stock/{sku}", Count: 1,
					Total: 450 * time.Millisecond, Max: 450 * time.Millisecond, Offset: 1600 * time.Millisecond},
				{Kind: "internal", Name: "render", Count: 1,
					Total: 50 * time.Millisecond, Max: 50 * time.Millisecond, Offset: 2300 * time.Millisecond},
			},
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
				{Frames: []string{"net/http.(*conn).serve", "main.handleOrder", "main.loadOrder", "encoding/json.Unmarshal", "encoding/json.(*decodeState).object"}, Value: 26},
				{Frames: []string{"net/http.(*conn).serve", "main.handleOrder", "main.loadOrder"}, Value: 12},
				{Frames: []string{"net/http.(*conn).serve", "main.handleOrder", "main.render", "html/template.(*Template).Execute"}, Value: 15},
				{Frames: []string{"net/http.(*conn).serve", "runtime.mallocgc"}, Value: 9},
			},
		},
	}
}
