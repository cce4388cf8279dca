package profileindex

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/google/pprof/profile"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/slowspan/slowspan/alert"
)

const shop = "github.com/acme/shop"

func TestSummarizeHottest(t *testing.T) {
	pgx := "github.com/jackc/pgx/v5.(*Conn).Query"
	sum := shop + "/cart.Sum"
	for _, tt := range []struct {
		name      string
		module    string
		samples   []Sample
		wantFrame string
		wantLine  string
	}{
		{
			name:   "the main module tells the app from its dependencies",
			module: shop,
			samples: []Sample{
				{Frames: []string{pgx, "main.handler"}, CPU: 50 * time.Millisecond},
				{Frames: []string{sum, "main.handler"}, Lines: []string{"sum.go:10", "main.go:1"}, CPU: 30 * time.Millisecond},
			},
			wantFrame: sum, wantLine: "sum.go:10",
		},
		{
			name: "without it, any module is the app's",
			samples: []Sample{
				{Frames: []string{pgx, "main.handler"}, Lines: []string{"conn.go:7", ""}, CPU: 50 * time.Millisecond},
				{Frames: []string{sum, "main.handler"}, CPU: 30 * time.Millisecond},
			},
			wantFrame: pgx, wantLine: "conn.go:7",
		},
		{
			name:   "the line of the stack that gave it the most self time",
			module: shop,
			samples: []Sample{
				{Frames: []string{sum, "main.a"}, Lines: []string{"sum.go:10", "a.go:1"}, CPU: 20 * time.Millisecond},
				{Frames: []string{sum, "main.b"}, Lines: []string{"sum.go:20", "b.go:1"}, CPU: 30 * time.Millisecond},
				// The same stack as the first, from another message.
				{Frames: []string{sum, "main.a"}, Lines: []string{"sum.go:10", "a.go:1"}, CPU: 20 * time.Millisecond},
			},
			wantFrame: sum, wantLine: "sum.go:10",
		},
		{
			name:   "ties go to the first stack by frames and lines, whatever the order",
			module: shop,
			samples: []Sample{
				{Frames: []string{sum, "main.b"}, Lines: []string{"sum.go:20", "b.go:1"}, CPU: 20 * time.Millisecond},
				{Frames: []string{sum, "main.a"}, Lines: []string{"sum.go:10", "a.go:1"}, CPU: 20 * time.Millisecond},
			},
			wantFrame: sum, wantLine: "sum.go:10",
		},
		{
			name:   "no line known",
			module: shop,
			samples: []Sample{
				{Frames: []string{sum}, CPU: 20 * time.Millisecond},
			},
			wantFrame: sum,
		},
		{
			name:   "only runtime and libraries",
			module: shop,
			samples: []Sample{
				{Frames: []string{"runtime.mallocgc", pgx}, Lines: []string{"malloc.go:1", "conn.go:7"}, CPU: 20 * time.Millisecond},
			},
		},
	} {
		t.Run(tt.name, func(t *testing.T) {
			p := Summarize(&Samples{Samples: tt.samples, MainModule: tt.module}, time.Second)
			require.NotNil(t, p)
			assert.Equal(t, tt.wantFrame, p.HottestFrame)
			assert.Equal(t, tt.wantLine, p.HottestLine)
		})
	}
}

func TestSummarizeByAppCode(t *testing.T) {
	render := shop + "/api.render"
	ms := time.Millisecond
	for _, tt := range []struct {
		name    string
		samples []Sample
		want    []alert.CodeGroup
	}{
		{
			name: "your code first",
			samples: []Sample{
				{Frames: []string{"runtime.mallocgc", "encoding/json.Marshal", render, "main.handler"},
					Lines: []string{"malloc.go:1", "encode.go:2", "render.go:30", "main.go:5"}, CPU: 40 * ms},
				{Frames: []string{"encoding/json.(*encodeState).string", "encoding/json.Marshal", render, "main.handler"},
					Lines: []string{"encode.go:9", "encode.go:2", "render.go:31", "main.go:5"}, CPU: 20 * ms},
				// The app frame at the leaf: no library entry for it.
				{Frames: []string{render, "main.handler"}, Lines: []string{"render.go:35", "main.go:5"}, CPU: 10 * ms},
				{Frames: []string{"crypto/sha256.block", "main.handler"}, Lines: []string{"", "main.go:9"}, CPU: 20 * ms},
				{Frames: []string{"runtime.gcBgMarkWorker"}, CPU: 10 * ms},
				// Wall-clock samples are not CPU time.
				{Frames: []string{"crypto/sha256.block", "main.handler"}, CPU: 500 * ms, Kind: KindWall},
			},
			want: []alert.CodeGroup{
				{Function: render, Line: "render.go:30", Share: 0.7, Library: []alert.Function{
					{Name: "runtime.mallocgc", Self: 0.4, Total: 0.4},
					{Name: "encoding/json.(*encodeState).string", Self: 0.2, Total: 0.2},
				}},
				{Function: "main.handler", Line: "main.go:9", Share: 0.2, Library: []alert.Function{
					{Name: "crypto/sha256.block", Self: 0.2, Total: 0.2},
				}},
				{Function: "", Share: 0.1, Library: []alert.Function{
					{Name: "runtime.gcBgMarkWorker", Self: 0.1, Total: 0.1},
				}},
			},
		},
		{
			name: "a leaf's total counts it anywhere under the app frame",
			samples: []Sample{
				{Frames: []string{"runtime.memmove", "bytes.(*Buffer).grow", "main.f"}, CPU: 30 * ms},
				{Frames: []string{"bytes.(*Buffer).grow", "main.f"}, CPU: 10 * ms},
				{Frames: []string{"bytes.(*Buffer).grow", "bytes.(*Buffer).grow", "main.f"}, CPU: 10 * ms},
			},
			want: []alert.CodeGroup{
				{Function: "main.f", Share: 1, Library: []alert.Function{
					{Name: "runtime.memmove", Self: 0.6, Total: 0.6},
					{Name: "bytes.(*Buffer).grow", Self: 0.4, Total: 1},
				}},
			},
		},
	} {
		t.Run(tt.name, func(t *testing.T) {
			p := Summarize(&Samples{Samples: tt.samples, MainModule: shop}, time.Second)
			require.NotNil(t, p)
			assertCodeGroups(t, tt.want, p.ByAppCode)
		})
	}
}

func assertCodeGroups(t *testing.T, want, got []alert.CodeGroup) {
	t.Helper()
	require.Len(t, got, len(want))
	for i := range want {
		assert.Equal(t, want[i].Function, got[i].Function, "group %d", i)
		assert.Equal(t, want[i].Line, got[i].Line, "group %d", i)
		assert.InDelta(t, want[i].Share, got[i].Share, 1e-9, "group %d", i)
		require.Len(t, got[i].Library, len(want[i].Library), "group %d", i)
		for j, f := range want[i].Library {
			assert.Equal(t, f.Name, got[i].Library[j].Name, "group %d library %d", i, j)
			assert.InDelta(t, f.Self, got[i].Library[j].Self, 1e-9, "%s self", f.Name)
			assert.InDelta(t, f.Total, got[i].Library[j].Total, 1e-9, "%s total", f.Name)
		}
	}
}

// TestSummarizeByAppCodeBounds: at most topCodeGroups groups and
// topLibrary leafs each, heaviest first, ties by name whatever the order.
func TestSummarizeByAppCodeBounds(t *testing.T) {
	var samples []Sample
	for i := range 12 {
		fn := fmt.Sprintf("main.f%02d", i)
		for j := range 7 {
			samples = append(samples, Sample{
				Frames: []string{fmt.Sprintf("strings.leaf%d", j), fn},
				CPU:    time.Duration(1+i/2) * time.Millisecond,
			})
		}
	}
	first := Summarize(&Samples{Samples: samples}, time.Second)
	require.NotNil(t, first)
	require.Len(t, first.ByAppCode, topCodeGroups)
	assert.Equal(t, "main.f10", first.ByAppCode[0].Function, "heaviest first, ties by name")
	assert.Equal(t, "main.f11", first.ByAppCode[1].Function)
	for _, g := range first.ByAppCode {
		require.Len(t, g.Library, topLibrary)
		assert.Equal(t, "strings.leaf0", g.Library[0].Name)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for range 5 {
		shuffled := append([]Sample(nil), samples...)
		rng.Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
		assert.Equal(t, first.ByAppCode, Summarize(&Samples{Samples: shuffled}, time.Second).ByAppCode, "deterministic")
	}
}

func TestSummarizeWall(t *testing.T) {
	ms := time.Millisecond
	sleep := []string{"runtime.gopark", "time.Sleep", "main.getOrder", "net/http.HandlerFunc.ServeHTTP"}
	reserve := shop + "/internal/stock.Reserve"
	mutex := []string{"runtime.gopark", "runtime.goparkunlock", "runtime.semacquire1", "sync.runtime_SemacquireMutex",
		"internal/sync.(*Mutex).lockSlow", "internal/sync.(*Mutex).Lock", "sync.(*Mutex).Lock", reserve, "main.handler"}
	for _, tt := range []struct {
		name        string
		samples     []Sample
		wantCPU     time.Duration
		wantWall    int64
		wantOffCPU  time.Duration
		wantWaiting []alert.Blocker
	}{
		{
			name: "a request that only slept",
			samples: []Sample{
				{Kind: KindWall, Frames: sleep, Lines: []string{"proc.go:435", "time.go:338", "orders.go:17", "server.go:2294"}, CPU: 300 * ms, Count: 30},
				{Kind: KindWall, Frames: sleep, Lines: []string{"proc.go:435", "time.go:338", "orders.go:25", "server.go:2294"}, CPU: 100 * ms, Count: 10},
				{Kind: KindWall, Frames: mutex, CPU: 200 * ms, Count: 20},
				{Kind: KindWall, Frames: []string{"crypto/sha256.block", "main.sum"}, CPU: 50 * ms, Count: 5},
				{Kind: KindOffCPU, Frames: []string{"runtime.gopark", "runtime.chanrecv1", "net/http.(*conn).serve"}, CPU: 70 * ms, Count: 1},
			},
			wantWall:   66,
			wantOffCPU: 670 * ms,
			wantWaiting: []alert.Blocker{
				{Call: "time.Sleep", Caller: "main.getOrder", Line: "orders.go:17", Time: 400 * ms},
				{Call: "sync.(*Mutex).Lock", Caller: reserve, Time: 200 * ms},
				{Call: "net/http.(*conn).serve", Time: 70 * ms},
			},
		},
		{
			name: "CPU and wall-clock samples",
			samples: []Sample{
				{Kind: KindCPU, Frames: []string{"main.work"}, CPU: 40 * ms, Count: 4},
				{Kind: KindWall, Frames: []string{"main.work"}, CPU: 40 * ms, Count: 4},
				{Kind: KindWall, Frames: sleep, CPU: 60 * ms, Count: 6},
			},
			wantCPU:    40 * ms,
			wantWall:   10,
			wantOffCPU: 60 * ms,
			wantWaiting: []alert.Blocker{
				{Call: "time.Sleep", Caller: "main.getOrder", Time: 60 * ms},
			},
		},
		{
			name: "CPU only",
			samples: []Sample{
				{Kind: KindCPU, Frames: sleep, CPU: 40 * ms, Count: 4},
			},
			wantCPU: 40 * ms,
		},
	} {
		t.Run(tt.name, func(t *testing.T) {
			p := Summarize(&Samples{Samples: tt.samples, MainModule: shop}, time.Second)
			require.NotNil(t, p)
			assert.Equal(t, tt.wantCPU, p.CPUTime)
			assert.Equal(t, tt.wantWall, p.WallSamples)
			assert.Equal(t, tt.wantOffCPU, p.OffCPUTime)
			assert.Equal(t, tt.wantWaiting, p.Waiting)
			if tt.wantCPU == 0 {
				assert.Zero(t, p.Samples)
				assert.Empty(t, p.TopFunctions)
				assert.Empty(t, p.Stacks)
				assert.Nil(t, p.Pprof)
			} else {
				assert.Len(t, p.Stacks, 1, "wall-clock samples make no CPU stacks")
				parsed, err := profile.Parse(bytes.NewReader(p.Pprof))
				require.NoError(t, err)
				assert.Len(t, parsed.Sample, 1, "nor pprof samples")
			}
		})
	}
}

func TestSummarizeBlockersBounds(t *testing.T) {
	var samples []Sample
	for i := range 8 {
		samples = append(samples, Sample{Kind: KindOffCPU, Frames: []string{fmt.Sprintf("syscall.call%d", i), "main.f"},
			CPU: time.Duration(1+i/2) * time.Millisecond})
	}
	p := Summarize(&Samples{Samples: samples}, time.Second)
	require.NotNil(t, p)
	require.Len(t, p.Waiting, topBlockers)
	assert.Equal(t, "syscall.call6", p.Waiting[0].Call, "longest first, ties by call")
	assert.Equal(t, "syscall.call7", p.Waiting[1].Call)
	assert.Equal(t, "main.f", p.Waiting[0].Caller)
}

func TestSummarizeNil(t *testing.T) {
	for name, s := range map[string]*Samples{
		"nil":        nil,
		"empty":      {},
		"no time":    {Samples: []Sample{{Frames: []string{"main.f"}}}},
		"no frames":  {Samples: []Sample{{CPU: time.Second}, {Kind: KindWall, CPU: time.Second, Count: 3}}},
		"negative":   {Samples: []Sample{{Frames: []string{"main.f"}, CPU: -time.Second}}},
		"wall, zero": {Samples: []Sample{{Kind: KindWall, Frames: []string{"main.f"}}}},
	} {
		assert.Nil(t, Summarize(s, time.Second), name)
	}
}

// TestSummarizeFromMessage: a CPU and a wall-clock profile in one message,
// with lines and the main module, through Add and Take.
func TestSummarizeFromMessage(t *testing.T) {
	b := newBuilder("nanoseconds")
	b.resource(shop)
	b.linked(trace, span1, int64(30*time.Millisecond),
		"crypto/sha256.block /go/src/crypto/sha256/block.go:20",
		shop+"/cart.checksum /src/shop/cart/checksum.go:42",
		"main.handler /src/shop/main.go:12")
	b.linked(trace, span1, int64(10*time.Millisecond),
		shop+"/cart.checksum /src/shop/cart/checksum.go:44",
		"main.handler /src/shop/main.go:12")
	b.profile("wall", 10*time.Millisecond)
	b.linked(trace, span1, int64(200*time.Millisecond),
		"runtime.gopark /go/src/runtime/proc.go:435",
		"time.Sleep /go/src/runtime/time.go:338",
		shop+"/cart.load /src/shop/cart/load.go:17",
		"main.handler /src/shop/main.go:13")
	ticks := make([]uint64, 20)
	for i := range ticks {
		ticks[i] = uint64(t0.Add(time.Duration(i) * 10 * time.Millisecond).UnixNano())
	}
	b.last().TimestampsUnixNano().FromRaw(ticks)

	ix := New(Settings{MaxSamples: 100, TTL: time.Minute})
	require.Equal(t, 3, ix.Add(b.pd, t0).Kept)
	got := ix.Take(trace, span1)
	require.NotNil(t, got)
	assert.Equal(t, shop, got.MainModule)
	assert.Len(t, got.Samples[2].Times, 20)

	p := Summarize(got, time.Second)
	require.NotNil(t, p)
	assert.Equal(t, 40*time.Millisecond, p.CPUTime)
	assert.EqualValues(t, 4, p.Samples)
	assert.Equal(t, "crypto/sha256.block", p.TopFunctions[0].Name)
	assert.Equal(t, shop+"/cart.checksum", p.HottestFrame)
	assert.Equal(t, "checksum.go:44", p.HottestLine, "where it had self time")
	assert.EqualValues(t, 20, p.WallSamples)
	assert.Equal(t, 200*time.Millisecond, p.OffCPUTime)
	assert.Equal(t, []alert.Blocker{{Call: "time.Sleep", Caller: shop + "/cart.load", Line: "load.go:17", Time: 200 * time.Millisecond}}, p.Waiting)
	assertCodeGroups(t, []alert.CodeGroup{{Function: shop + "/cart.checksum", Line: "checksum.go:42", Share: 1,
		Library: []alert.Function{{Name: "crypto/sha256.block", Self: 0.75, Total: 0.75}}}}, p.ByAppCode)
}
