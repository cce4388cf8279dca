package integration

import (
	"bytes"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pprofile"
	"go.opentelemetry.io/collector/pdata/pprofile/pprofileotlp"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"

	"github.com/slowspan/slowspan/alert"
	"github.com/slowspan/slowspan/internal/enginetest"
)

// Limits the hostile profiles must stay under, whatever they hold.
const (
	maxPeakRSS       = 300 << 20
	maxHostileCPU    = 2 * time.Second
	clockTicksPerSec = 100 // USER_HZ: /proc reports CPU time in 1/100 s on Linux
)

// hostileProfile is an OTLP profiles message built to exhaust the profile
// index: many samples over a few spans and deep stacks of long function
// names, or stacks of out-of-range location indices.
type hostileProfile struct {
	name                  string
	samples, spans, depth int
	nameLen               int
	// badLocations are out-of-range location indices in the one stack.
	badLocations int
}

func (h hostileProfile) marshal(t *testing.T) []byte {
	t.Helper()
	pd := pprofile.NewProfiles()
	d := pd.Dictionary()
	d.StringTable().Append("", "cpu", "nanoseconds")
	d.FunctionTable().AppendEmpty()
	d.LocationTable().AppendEmpty()
	d.StackTable().AppendEmpty()
	d.LinkTable().AppendEmpty()
	d.AttributeTable().AppendEmpty()
	d.MappingTable().AppendEmpty()
	st := d.StackTable().AppendEmpty()
	for i := range h.depth {
		d.StringTable().Append(fmt.Sprintf("%s.f%d", strings.Repeat("x", h.nameLen), i))
		d.FunctionTable().AppendEmpty().SetNameStrindex(int32(d.StringTable().Len() - 1))
		d.LocationTable().AppendEmpty().Lines().AppendEmpty().SetFunctionIndex(int32(d.FunctionTable().Len() - 1))
		st.LocationIndices().Append(int32(d.LocationTable().Len() - 1))
	}
	for i := range h.badLocations {
		st.LocationIndices().Append(int32(1<<30 + i))
	}
	for i := range h.spans {
		l := d.LinkTable().AppendEmpty()
		l.SetTraceID(pcommon.TraceID{0xba, 0xd, byte(i >> 8), byte(i)})
		l.SetSpanID(pcommon.SpanID{0xba, 0xd, byte(i >> 8), byte(i)})
	}
	p := pd.ResourceProfiles().AppendEmpty().ScopeProfiles().AppendEmpty().Profiles().AppendEmpty()
	p.SampleType().SetTypeStrindex(1)
	p.SampleType().SetUnitStrindex(2)
	samples := p.Samples()
	samples.EnsureCapacity(h.samples)
	for i := range h.samples {
		s := samples.AppendEmpty()
		s.SetStackIndex(1)
		s.SetLinkIndex(int32(1 + i%h.spans))
		s.Values().Append(int64(10 * time.Millisecond))
	}
	body, err := pprofileotlp.NewExportRequestFromProfiles(pd).MarshalProto()
	if err != nil {
		t.Fatalf("marshal %s: %v", h.name, err)
	}
	return body
}

// procStats reads the peak resident set (VmHWM) and the CPU time (user +
// system) of a process.
func procStats(t *testing.T, pid int) (peakRSS int64, cpu time.Duration) {
	t.Helper()
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(status), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			if err != nil {
				t.Fatalf("VmHWM %q: %v", v, err)
			}
			peakRSS = kb << 10
		}
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		t.Fatal(err)
	}
	// The fields after the command name, which may hold spaces, in
	// parentheses: state is the first, utime the 12th, stime the 13th.
	fields := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+1:]))
	var ticks int64
	for _, f := range fields[11:13] {
		n, err := strconv.ParseInt(f, 10, 64)
		if err != nil {
			t.Fatalf("/proc/%d/stat: %v", pid, err)
		}
		ticks += n
	}
	return peakRSS, time.Duration(ticks) * time.Second / clockTicksPerSec
}

func post(t *testing.T, url, what string, body []byte) {
	t.Helper()
	resp, err := http.Post(url, "application/x-protobuf", bytes.NewReader(body))
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("%s: %s", what, resp.Status)
	}
}

// TestHostileProfilesAreBounded: profiles messages shaped to exhaust the
// profile index (millions of frames, out-of-range indices walked over and
// over) cost the collector little memory and CPU, and a slow span still
// alerts with its profile afterwards.
func TestHostileProfilesAreBounded(t *testing.T) {
	cfg := &appsConfig{wait: 100 * time.Millisecond}
	c := startAppsCollector(t, cfg)
	pid := c.cmd.Process.Pid
	profilesURL := fmt.Sprintf("http://127.0.0.1:%d/v1development/profiles", c.httpPort)

	messages := []hostileProfile{
		// Each sample would be its own list of 256 frames of 512 bytes.
		{name: "deep stacks", samples: 285000, spans: 64, depth: 300, nameLen: 600},
		{name: "deep stacks, larger", samples: 1050000, spans: 128, depth: 300, nameLen: 600},
		// One stack of out-of-range location indices under every sample.
		{name: "out-of-range locations", samples: 40000, spans: 16, badLocations: 220000},
	}
	bodies := make([][]byte, len(messages))
	for i, h := range messages {
		bodies[i] = h.marshal(t)
	}
	rss0, cpu0 := procStats(t, pid)
	t.Logf("before: peak RSS %.1f MiB, CPU %v", float64(rss0)/(1<<20), cpu0)
	for i, h := range messages {
		post(t, profilesURL, h.name, bodies[i])
		rss, cpu := procStats(t, pid)
		t.Logf("%s (%.1f MB, %d samples): peak RSS %.1f MiB, CPU so far %v",
			h.name, float64(len(bodies[i]))/1e6, h.samples, float64(rss)/(1<<20), cpu-cpu0)
	}
	rss, cpu := procStats(t, pid)
	if rss > maxPeakRSS {
		t.Errorf("peak RSS %.1f MiB, want under %d MiB", float64(rss)/(1<<20), maxPeakRSS>>20)
	}
	if cpu-cpu0 > maxHostileCPU {
		t.Errorf("the hostile messages cost %v of CPU, want under %v", cpu-cpu0, maxHostileCPU)
	}

	// The collector is alive and the index works: a slow span alerts with
	// its profile, sent before it.
	tid, sid := pcommon.TraceID{0x60, 0x0d, 1}, pcommon.SpanID{0x60, 0x0d, 1}
	pd := enginetest.LinkedProfile(tid, sid, []string{"main.burnCPU", "main.handler"})
	body, err := pprofileotlp.NewExportRequestFromProfiles(pd).MarshalProto()
	if err != nil {
		t.Fatal(err)
	}
	post(t, profilesURL, "the span's profile", body)
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	rs.Resource().Attributes().PutStr("service.name", "after-hostile-profiles")
	sp := rs.ScopeSpans().AppendEmpty().Spans().AppendEmpty()
	sp.SetTraceID(tid)
	sp.SetSpanID(sid)
	sp.SetKind(ptrace.SpanKindServer)
	sp.SetName("GET /checkout")
	now := time.Now()
	sp.SetStartTimestamp(pcommon.NewTimestampFromTime(now.Add(-2 * time.Second)))
	sp.SetEndTimestamp(pcommon.NewTimestampFromTime(now))
	sp.Attributes().PutStr("http.route", "/checkout")
	body, err = ptraceotlp.NewExportRequestFromTraces(td).MarshalProto()
	if err != nil {
		t.Fatal(err)
	}
	post(t, c.tracesURL(), "the slow span", body)
	got := waitAlerts(t, c, cfg.alertFile(), "the alert after the hostile profiles", func(as []alert.Alert) bool { return len(as) >= 1 })
	if len(got) != 1 || got[0].Key.Route != "/checkout" {
		t.Fatalf("alerts %q, want one for /checkout", routesOf(got))
	}
	if p := got[0].Profile; p == nil || len(p.TopFunctions) == 0 || p.TopFunctions[0].Name != "main.burnCPU" {
		t.Errorf("the alert's profile %+v, want main.burnCPU on top", got[0].Profile)
	}
}
