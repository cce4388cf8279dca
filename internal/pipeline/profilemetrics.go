package pipeline

import (
	"context"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/slowspan/slowspan/internal/profileindex"
)

// dropReasonAttrs are the reason attributes of the dropped samples counter,
// built once rather than per message.
var dropReasonAttrs = func() (out [len(profileindex.DropReasons)]metric.AddOption) {
	for i, r := range profileindex.DropReasons {
		out[i] = metric.WithAttributeSet(attribute.NewSet(attribute.String("reason", r.String())))
	}
	return out
}()

// recordProfiles counts the samples of one profiles message: those kept, and
// those dropped by reason.
func (ins *Instruments) recordProfiles(ctx context.Context, st profileindex.AddStats) {
	if st.Kept > 0 {
		ins.ProfileSamples.Add(ctx, int64(st.Kept))
	}
	for i, n := range st.Dropped {
		if n > 0 {
			ins.ProfileSamplesDropped.Add(ctx, int64(n), dropReasonAttrs[i])
		}
	}
}
