package slowspanprocessor

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/processor/processortest"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/slowspan/slowspan/alert"
	"github.com/slowspan/slowspan/processor/slowspanprocessor/internal/metadata"
)

// TestLogLines: one start-up line, one info line per alert (endpoint,
// figures, reason, diagnosis, id; no attribute value beyond the endpoint),
// and a debug line per suppression.
func TestLogLines(t *testing.T) {
	core, logs := observer.New(zapcore.DebugLevel)
	set := processortest.NewNopSettings(metadata.Type)
	set.Logger = zap.New(core)
	sink := new(consumertest.TracesSink)
	cfg := createDefaultConfig().(*Config)
	cfg.Threshold = 500 * time.Millisecond
	p := newProcessor(t, cfg, set, sink)
	require.NoError(t, p.Start(context.Background(), componenttest.NewNopHost()))
	defer func() { require.NoError(t, p.Shutdown(context.Background())) }()

	started := logs.FilterMessageSnippet("slowspan started").AllUntimed()
	require.Len(t, started, 1)
	ctx := started[0].ContextMap()
	assert.Equal(t, "500ms", fmt.Sprint(ctx["threshold"]))
	assert.EqualValues(t, 0, ctx["route_rules"])
	assert.Equal(t, "span", ctx["trigger"])
	assert.Equal(t, "240h0m0s", fmt.Sprint(ctx["dedup_window"]))
	assert.Equal(t, "memory (lost on restart)", ctx["dedup_storage"])
	assert.Contains(t, ctx["alerts_to"], "exporters")
	assert.Equal(t, zapcore.InfoLevel, started[0].Level)

	td := traces("shop", rd{"/orders/{id}", 2 * time.Second})
	td.ResourceSpans().At(0).ScopeSpans().At(0).Spans().At(0).Attributes().PutStr("user.email", "secret@example.com")
	require.NoError(t, p.ConsumeTraces(context.Background(), td))
	require.Len(t, sink.AllTraces(), 1)
	var sent alert.Alert
	for a := range alert.All(sink.AllTraces()[0]) {
		sent = a
	}

	lines := logs.FilterMessage("slow request alert").AllUntimed()
	require.Len(t, lines, 1)
	l := lines[0]
	assert.Equal(t, zapcore.InfoLevel, l.Level)
	f := l.ContextMap()
	assert.Equal(t, "shop GET /orders/{id}", f["endpoint"])
	assert.Equal(t, "2s", fmt.Sprint(f["duration"]))
	assert.Equal(t, "500ms", fmt.Sprint(f["threshold"]))
	assert.Equal(t, "first", f["reason"])
	assert.Equal(t, sent.ID, f["alert_id"])
	if sent.Diagnosis != nil {
		assert.Equal(t, string(sent.Diagnosis.Kind), f["diagnosis"])
	}
	for k, v := range f {
		assert.NotContains(t, fmt.Sprint(v), "secret@example.com", "field %s", k)
	}

	// Twice more: suppressed, a debug line each with the running count.
	for range 2 {
		require.NoError(t, p.ConsumeTraces(context.Background(), traces("shop", rd{"/orders/{id}", 900 * time.Millisecond})))
	}
	assert.Len(t, logs.FilterMessage("slow request alert").AllUntimed(), 1, "no alert line for a suppressed span")
	sup := logs.FilterMessageSnippet("suppressed").AllUntimed()
	require.Len(t, sup, 2)
	for i, s := range sup {
		assert.Equal(t, zapcore.DebugLevel, s.Level)
		m := s.ContextMap()
		assert.Equal(t, "shop GET /orders/{id}", m["endpoint"])
		assert.Equal(t, "900ms", fmt.Sprint(m["duration"]))
		assert.EqualValues(t, i+1, m["suppressed"])
	}
}

// TestLogStormBounded: past alerts.max_per_minute, alerts fold into one
// summary: the alert lines stop at the cap, and one warning stands for the
// rest.
func TestLogStormBounded(t *testing.T) {
	core, logs := observer.New(zapcore.InfoLevel)
	set := processortest.NewNopSettings(metadata.Type)
	set.Logger = zap.New(core)
	sink := new(consumertest.TracesSink)
	cfg := createDefaultConfig().(*Config)
	cfg.Alerts.MaxPerMinute = 5
	p := newProcessor(t, cfg, set, sink)
	require.NoError(t, p.Start(context.Background(), componenttest.NewNopHost()))
	var spans []rd
	for i := range 2000 {
		spans = append(spans, rd{fmt.Sprintf("/search/w%d", i), 2 * time.Second})
	}
	require.NoError(t, p.ConsumeTraces(context.Background(), traces("shop", spans...)))
	require.NoError(t, p.Shutdown(context.Background()))
	assert.Len(t, logs.FilterMessage("slow request alert").AllUntimed(), 5)
	assert.Len(t, logs.FilterMessageSnippet("alert storm").AllUntimed(), 1)
	assert.Empty(t, logs.FilterMessageSnippet("suppressed").AllUntimed(), "suppression lines are debug only")
}
