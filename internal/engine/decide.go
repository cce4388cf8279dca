package engine

import (
	"context"

	"go.uber.org/zap"

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
			e.logSuppressed(&sc.kept[i], dec)
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

// logSuppressed writes a debug line for a suppressed slow span: only the
// endpoint and figures, never the span's attributes. Debug level only (the
// collector logs info and up by default), and Check spares the fields when
// debug is off, so a flow of suppressed spans costs no allocation.
func (e *Engine) logSuppressed(s *keptSpan, dec dedup.Decision) {
	if ce := e.logger.Check(zap.DebugLevel, "slow request suppressed: its endpoint alerted inside the dedup window"); ce != nil {
		ce.Write(zap.String("endpoint", s.key.String()), zap.Stringer("duration", s.dur),
			zap.Stringer("threshold", s.threshold), zap.Int64("suppressed", dec.Suppressed.Count))
	}
}
