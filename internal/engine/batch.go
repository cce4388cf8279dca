package engine

import (
	"context"

	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/slowspan/slowspan/alert"
	"github.com/slowspan/slowspan/internal/dedup"
	"github.com/slowspan/slowspan/internal/incident"
)

// Origin names where a batch's alerts go. The wrapper picks it (one per
// pipeline whose alerts it sends) and maps it to a consumer; the engine only
// groups alerts by it.
type Origin int

// Batch is what the engine hands out: alert spans for one origin, and the
// dedup decisions behind them. Send Traces, then settle the batch once:
// Commit when the consumer took them (the decisions are confirmed and the
// state saved), Rollback when it refused (the decisions are undone, so the
// endpoints alert again).
type Batch struct {
	Origin Origin
	// Traces holds copies of the alert spans only, each with its resource
	// and scope; the input is never modified. Valid when Alerts > 0.
	Traces ptrace.Traces
	// Alerts is the number of alert spans in Traces.
	Alerts int
	// Folded is set on a storm summary: the alerts it stands for.
	Folded int
	// Stats are what the step that made the batch saw (Process: the spans
	// of its input).
	Stats Stats

	// decisions[i] and events[i] are what the i-th alert settles: a dedup
	// decision (span mode), or an incident event (events[i] != nil).
	decisions []dedup.Decision
	events    []*incident.Event
	store     *dedup.Store
	incidents *incidentState
}

func (b *Batch) add(td ptrace.Traces, dec dedup.Decision, ev *incident.Event) {
	if b.Alerts == 0 {
		b.Traces = ptrace.NewTraces()
	}
	td.ResourceSpans().MoveAndAppendTo(b.Traces.ResourceSpans())
	b.Alerts++
	b.decisions = append(b.decisions, dec)
	b.events = append(b.events, ev)
}

// Commit confirms the batch's alerts and saves the dedup state. Until
// confirmed, an alert's key is saved in its state from before the alert, so
// a crash in between repeats the alert rather than losing it. Suppression
// counts alone are not saved here (that would put a storage write on the
// path of every batch with a slow span): the wrapper saves them now and
// then, and at shutdown.
func (b *Batch) Commit(ctx context.Context) {
	if len(b.decisions) == 0 {
		return
	}
	events := false
	for i, dec := range b.decisions {
		if dec.Alert {
			b.store.Delivered(ctx, dec)
		}
		if i < len(b.events) && b.events[i] != nil {
			ev := *b.events[i]
			b.incidents.tracker.Delivered(ev)
			if ev.Reason == alert.ReasonResolved && ev.Incident.Mode == alert.ModeSpan {
				// The next slow span opens a new incident: it alerts.
				b.store.Forget(ctx, ev.Key)
			}
			events = true
		}
	}
	b.store.Save(ctx)
	if events {
		b.incidents.save(ctx)
	}
}

// Rollback undoes the batch's decisions, so that the alerts fire again when
// the data is retried. It does not take the request's context: a rollback is
// due even when the request was cancelled (the backend's timeout bounds it).
func (b *Batch) Rollback() {
	decs := make([]dedup.Decision, 0, len(b.decisions))
	for i, dec := range b.decisions {
		if i < len(b.events) && b.events[i] != nil {
			b.incidents.tracker.Undo(*b.events[i])
			b.incidents.undone(*b.events[i])
		}
		if dec.Alert {
			decs = append(decs, dec)
		}
	}
	if len(decs) > 0 {
		b.store.UndoBatch(context.Background(), decs)
	}
}
