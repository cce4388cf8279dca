package engine

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

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
