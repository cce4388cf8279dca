package alerttest

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/slowspan/slowspan/alert"
)

func TestAppendReadsBack(t *testing.T) {
	want := alert.Alert{
		ID:         "0123456789abcdef0123456789abcdef",
		Key:        alert.Key{Service: "shop", Method: "GET", Route: "/a"},
		Reason:     alert.ReasonFirst,
		SpanName:   "GET /a",
		Duration:   2 * time.Second,
		Threshold:  time.Second,
		TraceID:    "0102030405060708090a0b0c0d0e0f10",
		SpanID:     "0102030405060708",
		Start:      time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC),
		Attributes: map[string]string{"http.route": "/a"},
		Resource:   map[string]string{"service.name": "shop"},
	}
	td := ptrace.NewTraces()
	require.NoError(t, Append(td, want))
	var got []alert.Alert
	for a := range alert.All(td) {
		got = append(got, a)
	}
	require.Len(t, got, 1)
	assert.Equal(t, want, got[0])

	bad := want
	bad.TraceID = "zz"
	assert.ErrorContains(t, Append(td, bad), "trace id")
}

func TestTracesCarryTheFixtures(t *testing.T) {
	want := []alert.Alert{Numbered(0), Numbered(1), Profiled(2), Full(), Incident()}
	td := Traces(t, want...)
	assert.Equal(t, len(want)+1, td.SpanCount(), "the alerts and one plain span")
	var got []alert.Alert
	for a := range alert.All(td) {
		got = append(got, a)
	}
	assert.Equal(t, want, got, "alert.All reads every fixture back and skips the plain span")
	ids := map[string]bool{}
	for _, a := range want {
		ids[a.ID] = true
	}
	assert.Len(t, ids, len(want), "each fixture has its own ID")
}
