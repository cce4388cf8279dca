package engine

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.uber.org/goleak"

	"github.com/slowspan/slowspan/internal/redistest"
)

// TestProcessDecidesABatchInOneRedisRoundTrip: a Redis answering in 200 ms
// used to hold a batch of 100 slow spans for 20 s, one round trip each.
func TestProcessDecidesABatchInOneRedisRoundTrip(t *testing.T) {
	t.Cleanup(func() { goleak.VerifyNone(t) }) // registered first: runs last
	srv := redistest.StartServer(t)
	proxy := redistest.StartProxy(t, srv.Addr, 200*time.Millisecond)
	e, _ := newEngine(t, func(c *Config) {
		c.Dedup.Redis.Endpoint = proxy.Addr
		c.Dedup.Redis.Timeout = 2 * time.Second
		c.Alerts.MaxPerMinute = 0 // counts every alert of the batch
	})
	ctx := context.Background()
	require.NoError(t, e.Start(ctx, componenttest.NewNopHost(), component.KindProcessor, component.MustNewID("slowspan")))
	t.Cleanup(func() { require.NoError(t, e.Shutdown(ctx)) })

	var spans []span
	for i := range 100 {
		spans = append(spans, server(2*time.Second, map[string]any{"http.route": fmt.Sprintf("/r%d", i)}))
	}
	scripts := func() int { c := proxy.Commands(); return c["EVALSHA"] + c["EVAL"] }

	tests := []struct {
		name          string
		cancel        bool
		scripts       int
		backendErrors int64
	}{
		{name: "the request's context reaches Redis: one round trip", scripts: 1},
		{name: "a cancelled request is decided locally at once", cancel: true, backendErrors: 100},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			reqCtx, cancel := context.WithCancel(ctx)
			defer cancel()
			if tt.cancel {
				cancel()
			}
			proxy.Reset()
			began := time.Now()
			res := e.Process(reqCtx, build(t, spans...), 0)
			assert.Less(t, time.Since(began), 5*time.Second)
			assert.Equal(t, tt.scripts, scripts(), "script calls (commands: %v)", proxy.Commands())
			assert.Equal(t, 100, res.Alerts)
			assert.Equal(t, tt.backendErrors, res.Stats.BackendErrors)

			// A refused delivery rolls back in one round trip too.
			proxy.Reset()
			res.Rollback()
			assert.Equal(t, tt.scripts, scripts(), "rollback script calls")
		})
	}
}
