package figurestest

import (
	"time"

	"github.com/slowspan/slowspan/alert"
	"github.com/slowspan/slowspan/alert/alerttest"
	"github.com/slowspan/slowspan/internal/versiondiff"
)

// Regression is a regression alert: checkout's GET /orders/{id} went from
// a p95 of 180 ms in version 1.4.2 to 1.30 s in 1.5.0, because 1.5.0 added
// an audit query (1.10 s), calls the inventory service 12 times per order,
// made the orders query slower and burns 640 ms of CPU in
// main.computeChecksums. Its changes are versiondiff's.
func Regression() alert.Alert {
	a := alerttest.Incident()
	a.Reason = alert.ReasonRegression
	a.ID = alert.NewID(a.TraceID, a.SpanID, a.Reason)
	a.Duration = 2400 * ms
	a.Threshold = 500 * ms
	a.Incident.Mode = alert.ModeQuantile
	a.Incident.Fired = alert.Figure{Duration: 1300 * ms}
	a.Incident.Peak = alert.Figure{Duration: 1300 * ms}
	a.Resource = map[string]string{"service.name": "checkout", "service.version": "1.5.0"}
	before := alert.VersionSide{
		Version: "1.4.2",
		Window: &alert.WindowFigures{Over: 5 * time.Minute, Count: 912, SlowCount: 3,
			P50: 90 * ms, P90: 150 * ms, P95: 180 * ms, P99: 260 * ms, Max: 610 * ms, Quantile: 0.95, QuantileValue: 180 * ms},
		Breakdown: &alert.Breakdown{SelfTime: 40 * ms, Children: []alert.ChildGroup{
			{Kind: "client", Name: "SELECT orders", Description: "postgresql SELECT * FROM orders WHERE id = ?", Count: 1,
				Total: 80 * ms, Max: 80 * ms, Offset: 5 * ms, Busy: 80 * ms},
			{Kind: "client", Name: "GET", Description: "GET inventory /stock/{sku}", Count: 1,
				Total: 60 * ms, Max: 60 * ms, Offset: 90 * ms, Busy: 60 * ms},
		}},
		Stacks: []alert.Stack{
			{Frames: []string{"net/http.(*conn).serve", "main.handleOrder", "main.render"}, Value: int64(30 * ms)},
			{Frames: []string{"net/http.(*conn).serve", "main.handleOrder", "main.loadOrder", "encoding/json.Unmarshal"}, Value: int64(20 * ms)},
		},
		CPUTime: 50 * ms,
	}
	after := alert.VersionSide{
		Version: "1.5.0",
		Window:  a.Window,
		Breakdown: &alert.Breakdown{SelfTime: 40 * ms, Children: []alert.ChildGroup{
			{Kind: "client", Name: "SELECT audit", Description: "postgresql SELECT * FROM audit WHERE id = ?", Count: 1,
				Total: 1100 * ms, Max: 1100 * ms, Offset: 5 * ms, Busy: 1100 * ms, Pattern: alert.PatternSlowQuery},
			{Kind: "client", Name: "GET", Description: "GET inventory /items/{id}", Count: 12,
				Total: 420 * ms, Max: 50 * ms, Offset: 1110 * ms, Busy: 420 * ms, Pattern: alert.PatternNPlusOne},
			{Kind: "client", Name: "SELECT orders", Description: "postgresql SELECT * FROM orders WHERE id = ?", Count: 1,
				Total: 200 * ms, Max: 200 * ms, Offset: 1540 * ms, Busy: 200 * ms},
			{Kind: "client", Name: "GET", Description: "GET inventory /stock/{sku}", Count: 1,
				Total: 62 * ms, Max: 62 * ms, Offset: 1750 * ms, Busy: 62 * ms},
		}},
		Stacks: []alert.Stack{
			{Frames: []string{"net/http.(*conn).serve", "main.handleOrder", "main.render"}, Value: int64(30 * ms)},
			{Frames: []string{"net/http.(*conn).serve", "main.handleOrder", "main.loadOrder", "encoding/json.Unmarshal"}, Value: int64(20 * ms)},
			{Frames: []string{"net/http.(*conn).serve", "main.handleOrder", "main.computeChecksums"}, Value: int64(40 * ms)},
			{Frames: []string{"net/http.(*conn).serve", "main.handleOrder", "main.computeChecksums", "crypto/sha256.block"}, Value: int64(600 * ms)},
		},
		CPUTime: 690 * ms,
	}
	a.Window.Quantile, a.Window.QuantileValue = 0.95, 1300*ms
	a.Window.P95 = 1300 * ms
	a.Breakdown = after.Breakdown
	a.Diagnosis = &alert.Diagnosis{Kind: alert.DiagnosisSlowQuery,
		Text: "Slow query: one postgresql query took 1.10 s of 2.40 s: SELECT * FROM audit WHERE id = ?",
		Time: alert.TimeAccount{OnCPU: 690 * ms, Children: 1782 * ms, OffCPU: 0}}
	a.Regression = &alert.Regression{Before: before, After: after, Changes: versiondiff.Compare(before, after)}
	return a
}

// HostileRegression is Regression with s in every text of its regression:
// the versions, the child groups' names and descriptions, the frames of the
// stacks and the changes' descriptions and kinds.
func HostileRegression(s string) alert.Alert {
	a := Regression()
	r := a.Regression
	r.Before.Version, r.After.Version = s, s
	for _, side := range []*alert.VersionSide{&r.Before, &r.After} {
		b := *side.Breakdown
		b.Children = append([]alert.ChildGroup(nil), b.Children...)
		for i := range b.Children {
			b.Children[i].Name, b.Children[i].Description = s, s+" "+b.Children[i].Description
		}
		side.Breakdown = &b
		side.Stacks = append(side.Stacks, alert.Stack{Frames: []string{s, s}, Value: int64(ms)})
	}
	for i := range r.Changes {
		r.Changes[i].Description = s
	}
	r.Changes = append(r.Changes, alert.Change{Kind: alert.ChangeKind(s), Description: s, After: time.Second, New: true})
	return a
}
