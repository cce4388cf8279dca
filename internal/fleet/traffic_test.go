package fleet

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/slowspan/slowspan/internal/redistest"
	"github.com/slowspan/slowspan/internal/window"
)

// countingConn counts the bytes a client sends and receives.
type countingConn struct {
	net.Conn
	sent, received *atomic.Int64
}

func (c countingConn) Write(p []byte) (int, error) {
	n, err := c.Conn.Write(p)
	c.sent.Add(int64(n))
	return n, err
}

func (c countingConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.received.Add(int64(n))
	return n, err
}

// commands are the proxy's counts without a new connection's handshake.
func commands(p *redistest.Proxy) map[string]int {
	c := p.Commands()
	delete(c, "HELLO")
	delete(c, "CLIENT")
	return c
}

func usedMemory(t *testing.T, client *redis.Client) int64 {
	t.Helper()
	info, err := client.Info(context.Background(), "memory").Result()
	require.NoError(t, err)
	for _, line := range strings.Split(info, "\r\n") {
		if v, ok := strings.CutPrefix(line, "used_memory:"); ok {
			n, err := strconv.ParseInt(v, 10, 64)
			require.NoError(t, err)
			return n
		}
	}
	t.Fatal("no used_memory in INFO memory")
	return 0
}

// TestTrafficAndMemoryFor1000Keys measures what sharing the windows of
// 1,000 endpoints costs: the bytes and commands of a flush (the first one,
// of whole windows, and one in steady state, of the current sub-window),
// of a read, and the Redis memory per endpoint, with one and with three
// collectors. The figures are in the package documentation.
func TestTrafficAndMemoryFor1000Keys(t *testing.T) {
	if testing.Short() {
		t.Skip("measures 1,000 keys")
	}
	const keys, perSub, collectors = 1000, 100, 3
	srv := redistest.StartServer(t)
	proxy := redistest.StartProxy(t, srv.Addr, 0)
	admin := newClient(t, srv.Addr)
	var sent, received atomic.Int64
	client := newClient(t, proxy.Addr, func(o *redis.Options) {
		o.Dialer = func(ctx context.Context, network, addr string) (net.Conn, error) {
			var d net.Dialer
			c, err := d.DialContext(ctx, network, addr)
			if err != nil {
				return nil, err
			}
			return countingConn{Conn: c, sent: &sent, received: &received}, nil
		}
	})
	require.NoError(t, client.Ping(context.Background()).Err())
	base := usedMemory(t, admin)

	names := make([]string, keys)
	for k := range names {
		names[k] = fmt.Sprintf("GET /api/v1/endpoint/%d", k)
	}
	// Each collector sees a third of perSub requests per sub-window of
	// each key, over a whole window.
	r := rand.New(rand.NewPCG(3, 4))
	local := make([][]*window.Window, collectors)
	for c := range local {
		local[c] = make([]*window.Window, keys)
		for k := range local[c] {
			local[c][k] = newWindow(t)
		}
	}
	var now time.Time
	for j := range testCfg.SubWindows * perSub {
		now = t0.Add(time.Duration(j) * width / perSub)
		for k := range keys {
			local[j%collectors][k].Record(now, latency(r, k))
		}
	}
	fleet := make([]*Windows, collectors)
	var first FlushStats
	var firstBytes int64
	for c := range fleet {
		fleet[c] = newWindows(t, client, fmt.Sprintf("collector-%d", c))
		sent.Store(0)
		proxy.Reset()
		for k, name := range names {
			fleet[c].Stage(name, local[c][k], now)
		}
		st := flush(t, fleet[c])
		assert.Equal(t, map[string]int{"HSET": keys * testCfg.SubWindows, "PEXPIRE": keys * testCfg.SubWindows}, commands(proxy))
		if c == 0 {
			first, firstBytes = st, sent.Load()
			oneCollector := usedMemory(t, admin) - base
			t.Logf("Redis memory, 1 collector: %d B per key (%d sub-window hashes of one field)",
				oneCollector/keys, testCfg.SubWindows)
		}
	}
	all := usedMemory(t, admin) - base
	t.Logf("Redis memory, %d collectors: %d B per key (%d hashes of %d fields)", collectors, all/keys, testCfg.SubWindows, collectors)
	t.Logf("first flush of whole windows: %d sub-windows, %d commands, %d B of values, %d B sent (%d B per key)",
		first.SubWindows, first.Commands, first.Bytes, firstBytes, firstBytes/keys)

	// Steady state: a flush writes the current sub-window of each key
	// recorded since the last one; here one that holds this collector's
	// share of a whole sub-window.
	next := now.Add(width / 3)
	for k := range keys {
		for range perSub / collectors {
			local[0][k].Record(next, latency(r, k))
		}
	}
	sent.Store(0)
	proxy.Reset()
	for k, name := range names {
		fleet[0].Stage(name, local[0][k], next)
	}
	st := flush(t, fleet[0])
	steady := sent.Load()
	assert.Equal(t, keys, st.SubWindows, "one sub-window per key")
	assert.Equal(t, map[string]int{"HSET": keys, "PEXPIRE": keys}, proxy.Commands(), "one round trip")
	t.Logf("steady flush: %d sub-windows, %d commands, %d B of values, %d B sent (%d B per key)",
		st.SubWindows, st.Commands, st.Bytes, steady, steady/keys)
	assert.Less(t, steady, int64(keys*300), "bytes per steady flush")

	sent.Store(0)
	received.Store(0)
	proxy.Reset()
	var p95 time.Duration
	rs, err := fleet[1].Read(context.Background(), names, next, func(i int, w *window.Window) {
		if i == 500 {
			p95 = w.Quantile(next, 0.95)
		}
	})
	require.NoError(t, err)
	assert.Equal(t, map[string]int{"HGETALL": keys * testCfg.SubWindows}, commands(proxy))
	t.Logf("read: %d HGETALL, %d fields, %d B sent, %d B received (%d B per key); p95 of key 500: %v",
		rs.Commands, rs.Fields, sent.Load(), received.Load(), received.Load()/keys, p95)
}

// BenchmarkStageFlush1000Keys measures a steady-state flush of 1,000 keys
// (stage and one round trip to a local redis-server) and reports the bytes
// sent per flush.
func BenchmarkStageFlush1000Keys(b *testing.B) {
	const keys = 1000
	srv := redistest.StartServer(b)
	var sent, received atomic.Int64
	client := newClient(b, srv.Addr, func(o *redis.Options) {
		o.Dialer = func(ctx context.Context, network, addr string) (net.Conn, error) {
			var d net.Dialer
			c, err := d.DialContext(ctx, network, addr)
			if err != nil {
				return nil, err
			}
			return countingConn{Conn: c, sent: &sent, received: &received}, nil
		}
	})
	x := newWindows(b, client, "c1")
	r := rand.New(rand.NewPCG(5, 6))
	ws := make([]*window.Window, keys)
	names := make([]string, keys)
	for k := range ws {
		ws[k] = newWindow(b)
		names[k] = fmt.Sprintf("GET /api/v1/endpoint/%d", k)
		for range 33 {
			ws[k].Record(t0, latency(r, k))
		}
	}
	b.ResetTimer()
	sent.Store(0)
	for i := range b.N {
		now := t0.Add(time.Duration(i) * time.Millisecond)
		for k, name := range names {
			ws[k].Record(now, latency(r, k))
			x.Stage(name, ws[k], now)
		}
		if _, err := x.Flush(context.Background()); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(sent.Load())/float64(b.N), "B-sent/flush")
}
