package slowspanprocessor

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/open-telemetry/opentelemetry-collector-contrib/extension/storage/storagetest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/processor/processortest"

	"github.com/slowspan/slowspan/alert"
	"github.com/slowspan/slowspan/processor/slowspanprocessor/internal/metadata"
)

// stoppableSink stands for an alert exporter: it takes alerts until it is
// stopped and refuses them after, as an exporter whose queue storage was
// closed does.
type stoppableSink struct {
	mu      sync.Mutex
	stopped bool
	alerts  []alert.Alert
	late    int // alerts offered after stop
}

func (s *stoppableSink) Capabilities() consumer.Capabilities { return consumer.Capabilities{} }

func (s *stoppableSink) ConsumeTraces(_ context.Context, td ptrace.Traces) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopped {
		s.late += td.SpanCount()
		return errors.New("exporter stopped: database not open")
	}
	for a := range alert.All(td) {
		s.alerts = append(s.alerts, a)
	}
	return nil
}

func (s *stoppableSink) stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stopped = true
}

func (s *stoppableSink) routes() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, a := range s.alerts {
		out = append(out, a.Key.Route)
	}
	return out
}

// TestShutdownDeliversWaitingAlertsBeforeTheExporterStops replays the order
// in which the collector stops one instance shared by a traces and a
// profiles pipeline when the profiles node comes last: the traces node, then
// the alert exporter, then the profiles node. Alerts still waiting out
// correlation.wait must reach the exporter while it runs, and the key must
// be saved as alerted only because they did.
func TestShutdownDeliversWaitingAlertsBeforeTheExporterStops(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	procSet := processortest.NewNopSettings(metadata.Type)
	procSet.ID = component.NewID(metadata.Type)

	run := func(td ptrace.Traces) *stoppableSink {
		storageID, ext := newFileStorage(t, dir)
		host := storagetest.NewStorageHost().WithExtension(storageID, ext)
		cfg := createDefaultConfig().(*Config)
		cfg.Dedup.Storage = &storageID
		cfg.Correlation.Wait = time.Hour // only shutdown can deliver
		sink := &stoppableSink{}
		tp := newProcessor(t, cfg, procSet, sink)
		pp, err := NewFactory().CreateProfiles(ctx, procSet, cfg, consumertest.NewNop())
		require.NoError(t, err)
		require.NoError(t, tp.Start(ctx, host))
		require.NoError(t, pp.Start(ctx, host))

		require.NoError(t, tp.ConsumeTraces(ctx, td))
		assert.Empty(t, sink.routes(), "the alert waits for its children and profile")

		require.NoError(t, tp.Shutdown(ctx))
		sink.stop()
		require.NoError(t, pp.Shutdown(ctx))
		require.NoError(t, ext.Shutdown(ctx))
		assert.Zero(t, sink.late, "no alert may reach a stopped exporter")
		return sink
	}

	first := run(traces("shop", rd{"/checkout", 2 * time.Second}))
	assert.Equal(t, []string{"/checkout"}, first.routes(), "the waiting alert is delivered at shutdown")

	// After a restart the key is silent (it was delivered and saved), and a
	// new key still alerts.
	second := run(traces("shop", rd{"/checkout", 2 * time.Second}, rd{"/cart", 2 * time.Second}))
	assert.Equal(t, []string{"/cart"}, second.routes())
}

// TestAlertsAfterDrainSkipTheWait: once the traces node has shut down,
// nothing would deliver a waiting alert for its sink, so a late batch (one
// still in flight in a receiver) goes out at once.
func TestAlertsAfterDrainSkipTheWait(t *testing.T) {
	ctx := context.Background()
	cfg := createDefaultConfig().(*Config)
	cfg.Correlation.Wait = time.Hour
	sink := &stoppableSink{}
	tp := newProcessor(t, cfg, processortest.NewNopSettings(metadata.Type), sink)
	pp, err := NewFactory().CreateProfiles(ctx, processortest.NewNopSettings(metadata.Type), cfg, consumertest.NewNop())
	require.NoError(t, err)
	require.NoError(t, tp.Start(ctx, nil))
	require.NoError(t, tp.Shutdown(ctx))

	require.NoError(t, tp.ConsumeTraces(ctx, traces("shop", rd{"/late", 2 * time.Second})))
	assert.Equal(t, []string{"/late"}, sink.routes())
	require.NoError(t, pp.Shutdown(ctx))
}
