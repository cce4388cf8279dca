package engine

import (
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
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
