package alert

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func sampleDetails() (*Breakdown, *Profile) {
	b := &Breakdown{
		SelfTime: 300 * time.Millisecond,
		Children: []ChildGroup{
			{Kind: "client", Name: "SELECT orders", Description: "postgresql SELECT orders WHERE id = ?", Count: 42,
				Total: 1800 * time.Millisecond, Max: 90 * time.Millisecond, Offset: 5 * time.Millisecond},
			{Kind: "client", Name: "GET", Description: "GET payments.internal /charge", Count: 1,
				Total: 300 * time.Millisecond, Max: 300 * time.Millisecond, Offset: 2 * time.Second},
		},
	}
	p := &Profile{
		Source:   "otlp_link",
		CPUTime:  1200 * time.Millisecond,
		WallTime: 2400 * time.Millisecond,
		Samples:  120,
		TopFunctions: []Function{
			{Name: "main.burn", Self: 0.75, Total: 0.75},
			{Name: "runtime.mallocgc", Self: 0.25, Total: 0.25},
		},
		HottestFrame: "main.burn",
		Stacks: []Stack{
			{Frames: []string{"main.main", "net/http.(*conn).serve", "main.handler", "main.burn"}, Value: 90},
			{Frames: []string{"main.main", "runtime.mallocgc"}, Value: 30},
		},
		Pprof: []byte{0x1f, 0x8b, 8, 0},
	}
	return b, p
}

func TestDetailsRoundTripThroughSpan(t *testing.T) {
	_, res, span := newSpan(t)
	a := sampleAlert()
	a.Breakdown, a.Profile = sampleDetails()
	Encode(a, span)
	got, ok := Decode(res, span)
	require.True(t, ok)
	assert.Equal(t, a.Breakdown, got.Breakdown)
	assert.Equal(t, a.Profile, got.Profile)
	assert.NotContains(t, got.Attributes, AttrProfilePprof)
}

func TestDetailsInJSON(t *testing.T) {
	a := sampleAlert()
	a.Breakdown, a.Profile = sampleDetails()
	data, err := json.Marshal(a)
	require.NoError(t, err)
	assert.Contains(t, string(data), `"stack":"main.main;net/http.(*conn).serve;main.handler;main.burn"`)
	assert.Contains(t, string(data), `"self_time_ms":300`)
	assert.NotContains(t, string(data), "pprof", "the pprof bytes stay out of the JSON line")

	var got Alert
	require.NoError(t, json.Unmarshal(data, &got))
	want := *a.Profile
	want.Pprof = nil
	assert.Equal(t, &want, got.Profile)
	assert.Equal(t, a.Breakdown, got.Breakdown)
}

func TestDamagedDetailsAreDropped(t *testing.T) {
	_, res, span := newSpan(t)
	Encode(sampleAlert(), span)
	span.Attributes().PutStr(AttrBreakdown, "{broken")
	span.Attributes().PutInt(AttrProfile, 3)
	span.Attributes().PutStr(AttrProfilePprof, "not bytes")
	got, ok := Decode(res, span)
	require.True(t, ok)
	assert.Nil(t, got.Breakdown)
	assert.Nil(t, got.Profile)
}
