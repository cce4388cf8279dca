package engine

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pprofile"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/slowspan/slowspan/alert"
	"github.com/slowspan/slowspan/internal/enginetest"
)

// wallFrame is a frame of a hand-built wall-clock profile.
type wallFrame struct {
	fn, file string
	line     int64
}

// wallProfile is a wall-clock profile as spanprofiler exports it: sample
// type wall/nanoseconds, one tick per period, each tick's time recorded,
// linked to the slow span. Each stack gets one sample whose ticks are at
// the given offsets from t0.
func wallProfile(period time.Duration, stacks map[*[]wallFrame][]time.Duration) pprofile.Profiles {
	pd, p := enginetest.Linked("wall", slowTrace, slowSpan)
	d := pd.Dictionary()
	pd.ResourceProfiles().At(0).Resource().Attributes().PutStr("slowspan.go.main_module", "example.com/shop")
	p.PeriodType().SetTypeStrindex(1)
	p.PeriodType().SetUnitStrindex(2)
	p.SetPeriod(int64(period))
	str := func(s string) int32 {
		d.StringTable().Append(s)
		return int32(d.StringTable().Len() - 1)
	}
	for frames, ticks := range stacks {
		st := d.StackTable().AppendEmpty()
		for _, f := range *frames {
			fn := d.FunctionTable().AppendEmpty()
			fn.SetNameStrindex(str(f.fn))
			fn.SetFilenameStrindex(str(f.file))
			ln := d.LocationTable().AppendEmpty().Lines().AppendEmpty()
			ln.SetFunctionIndex(int32(d.FunctionTable().Len() - 1))
			ln.SetLine(f.line)
			st.LocationIndices().Append(int32(d.LocationTable().Len() - 1))
		}
		s := p.Samples().AppendEmpty()
		s.SetStackIndex(int32(d.StackTable().Len() - 1))
		s.SetLinkIndex(1)
		s.Values().Append(int64(len(ticks)) * int64(period))
		for _, at := range ticks {
			s.TimestampsUnixNano().Append(uint64(t0.Add(at).UnixNano()))
		}
	}
	return pd
}

// ticks are n ticks every period from at.
func ticks(at, period time.Duration, n int) []time.Duration {
	var out []time.Duration
	for i := range n {
		out = append(out, at+time.Duration(i)*period)
	}
	return out
}

// TestWaitingNamedFromTheWallProfile: a request that waited 300 ms in a
// query (a child span) and 1.2 s in a sleep without a span is diagnosed as
// waiting in the sleep, named with its caller and line, though the query
// also parked the goroutine.
func TestWaitingNamedFromTheWallProfile(t *testing.T) {
	e, _ := newEngine(t, nil)
	const period = 50 * time.Millisecond
	sleep := []wallFrame{
		{"runtime.gopark", "/go/src/runtime/proc.go", 435},
		{"time.Sleep", "/go/src/runtime/time.go", 338},
		{"example.com/shop/orders.getOrder", "/app/orders/orders.go", 17},
		{"main.handler", "/app/main.go", 40},
	}
	query := []wallFrame{
		{"runtime.gopark", "/go/src/runtime/proc.go", 435},
		{"runtime.netpollblock", "/go/src/runtime/netpoll.go", 575},
		{"github.com/jackc/pgx/v5.(*Conn).Query", "/mod/pgx/conn.go", 600},
		{"example.com/shop/orders.load", "/app/orders/orders.go", 30},
	}
	kept := e.IndexProfiles(wallProfile(period, map[*[]wallFrame][]time.Duration{
		&query: ticks(0, period, 6),
		&sleep: ticks(300*time.Millisecond, period, 24),
	})).Kept
	require.Equal(t, 2, kept)

	td, spans := request(1500 * time.Millisecond)
	child(spans, ptrace.SpanKindClient, "SELECT orders", 0, 300*time.Millisecond,
		map[string]any{"db.system": "postgresql", "db.statement": "SELECT * FROM orders WHERE id = 1"})
	got := alerts(e.Process(t.Context(), td, 0))
	require.Len(t, got, 1)
	a := got[0]
	require.NotNil(t, a.Diagnosis)
	assert.Equal(t, alert.DiagnosisWaiting, a.Diagnosis.Kind, a.Diagnosis.Text)
	assert.Equal(t, "Waiting: 1.20 s of 1.50 s off-CPU outside child spans; blocked in time.Sleep from "+
		"example.com/shop/orders.getOrder (orders.go:17)", a.Diagnosis.Text)
	assert.Equal(t, "example.com/shop/orders.getOrder", a.Diagnosis.Frame)
	assert.Equal(t, "orders.go:17", a.Diagnosis.Line)
	assert.Equal(t, alert.TimeAccount{Children: 300 * time.Millisecond, OffCPU: 1200 * time.Millisecond}, a.Diagnosis.Time)

	// The profile shows every wait, the query's too.
	require.NotNil(t, a.Profile)
	assert.Equal(t, time.Duration(0), a.Profile.CPUTime)
	assert.Equal(t, 1500*time.Millisecond, a.Profile.OffCPUTime)
	require.Len(t, a.Profile.Waiting, 2)
	assert.Equal(t, alert.Blocker{Call: "time.Sleep", Caller: "example.com/shop/orders.getOrder", Line: "orders.go:17",
		Time: 1200 * time.Millisecond}, a.Profile.Waiting[0])
	assert.Equal(t, "github.com/jackc/pgx/v5.(*Conn).Query", a.Profile.Waiting[1].Call, "a third-party module is not the app's code")
}
