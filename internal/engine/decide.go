package engine

import (
	"context"

	"github.com/slowspan/slowspan/internal/dedup"
)

// decide asks the dedup state about the kept slow spans of a batch at once
// (one lock, or one Redis round trip) and turns those that alert into
// candidates. In span mode with resolve.after, alerting and suppressed
// spans alike join their key's incident (windows.go). The window modes
// decide in windows.go instead.
func (e *Engine) decide(ctx context.Context, sc *scratch, st *Stats, origin Origin) []*candidate {
	for i := range sc.kept {
		sc.reqs = append(sc.reqs, dedup.Request{Key: sc.kept[i].key, Duration: sc.kept[i].dur})
	}
	now := e.now()
	sc.decs = e.dedup.DecideBatch(ctx, sc.reqs, now, sc.decs)
	var fresh []*candidate
	for i, dec := range sc.decs {
		if dec.BackendError {
			st.BackendErrors++
		}
		if !dec.Alert {
			st.Suppressed++
			e.spanIncident(&sc.kept[i], origin, now, nil)
			continue
		}
		st.countAlert(dec.Reason)
		c := e.newCandidate(&sc.kept[i], dec)
		e.spanIncident(&sc.kept[i], origin, now, c)
		fresh = append(fresh, c)
	}
	return fresh
}
