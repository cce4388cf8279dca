package engine

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
)

// atomicClock is a clock the test moves while the component's loop reads it.
type atomicClock struct{ ns atomic.Int64 }

func (c *atomicClock) Now() time.Time      { return time.Unix(0, c.ns.Load()) }
func (c *atomicClock) set(t time.Time)     { c.ns.Store(t.UnixNano()) }
func (c *atomicClock) add(d time.Duration) { c.ns.Add(int64(d)) }

func TestExpireProfilesUsesTheEngineClock(t *testing.T) {
	e, clk := newEngine(t, nil)
	require.Equal(t, 3, e.IndexProfiles(linkedProfile(slowTrace, slowSpan, burnStack, burnStack, burnStack)).Kept)

	clk.now = t0.Add(e.cfg.Profiles.TTL - time.Second)
	e.ExpireProfiles()
	assert.Equal(t, 3, e.ProfileSamples(), "younger than profiles.ttl")

	clk.now = t0.Add(e.cfg.Profiles.TTL)
	e.ExpireProfiles()
	assert.Equal(t, 0, e.ProfileSamples(), "expired without another profiles message")
}

// TestComponentLoopExpiresProfiles: samples leave the index on the
// component's timer, with no profiles message arriving to trigger it.
func TestComponentLoopExpiresProfiles(t *testing.T) {
	ctx := context.Background()
	cfg := NewDefaultConfig()
	cfg.Correlation.Wait = 100 * time.Millisecond // the loop ticks every 10 ms
	clk := &atomicClock{}
	clk.set(t0)
	e, err := New(cfg, Settings{Now: clk.Now})
	require.NoError(t, err)
	c := NewComponent(e, component.KindProcessor, component.MustNewID("slowspan"), Instruments{})
	require.NoError(t, c.Start(ctx, componenttest.NewNopHost()))
	defer func() { require.NoError(t, c.Shutdown(ctx)) }()

	c.IndexProfiles(ctx, linkedProfile(slowTrace, slowSpan, burnStack))
	require.Equal(t, 1, e.ProfileSamples())
	clk.add(cfg.Profiles.TTL)
	assert.Eventually(t, func() bool { return e.ProfileSamples() == 0 }, 10*time.Second, 5*time.Millisecond,
		"the component's loop expires samples past profiles.ttl")
}
