package fleet

import (
	"context"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/slowspan/slowspan/internal/redistest"
	"github.com/slowspan/slowspan/internal/window"
)

const password = "s3cret-fleet-password"

// fleetCalls are the three primitives over one client.
type fleetCalls struct {
	x    *Windows
	inc  *Incidents
	vers *Versions
}

// calls runs every call of Windows, Incidents and Baselines once and
// returns their errors, by name, and the longest one took.
func calls(t *testing.T, fc fleetCalls, w *window.Window, now time.Time) (map[string]error, time.Duration) {
	x, inc := fc.x, fc.inc
	t.Helper()
	ctx := context.Background()
	errs := map[string]error{}
	var longest time.Duration
	run := func(name string, f func() error) {
		began := time.Now()
		errs[name] = f()
		longest = max(longest, time.Since(began))
	}
	x.Stage("GET /a", w, now)
	run("flush", func() error { _, err := x.Flush(ctx); return err })
	run("read", func() error {
		_, err := x.Read(ctx, []string{"GET /a"}, now, func(int, *window.Window) {})
		return err
	})
	var id string
	run("fire", func() error {
		var err error
		_, id, err = inc.Fire(ctx, "GET /a", "inc-1", 2, now)
		return err
	})
	run("escalate", func() error { _, err := inc.Escalate(ctx, "GET /a", id, 5, 2, now); return err })
	run("resolve", func() error { _, err := inc.Resolve(ctx, "GET /a", id, now); return err })
	run("get", func() error { _, _, err := inc.Get(ctx, "GET /a"); return err })
	run("load", func() error { return inc.LoadScripts(ctx) })
	run("publish versions", func() error {
		_, err := fc.vers.Publish(ctx, []Seen{{Endpoint: "GET /a", Version: "1.1", At: now, TTL: time.Hour}},
			[]Baseline{{Name: "GET /a 1.1", Value: []byte("{}"), TTL: time.Hour}})
		return err
	})
	run("latest version", func() error {
		_, _, err := fc.vers.Latest(ctx, []Endpoint{{Name: "GET /a", TTL: time.Hour}})
		return err
	})
	run("baselines", func() error { _, err := fc.vers.Baselines(ctx, []string{"GET /a 1.1"}, []string{""}); return err })
	return errs, longest
}

func newPair(t *testing.T, addr string, timeout time.Duration) fleetCalls {
	t.Helper()
	client := newClient(t, addr, func(o *redis.Options) { o.Password = password })
	set := Settings{Client: client, Prefix: "test:", Timeout: timeout}
	x, err := NewWindows(WindowSettings{Settings: set, Collector: "c1", Window: testCfg})
	require.NoError(t, err)
	inc, err := NewIncidents(IncidentSettings{Settings: set})
	require.NoError(t, err)
	vers, err := NewVersions(VersionSettings{Settings: set})
	require.NoError(t, err)
	return fleetCalls{x: x, inc: inc, vers: vers}
}

func requirePass(t *testing.T, addr string) {
	t.Helper()
	admin := newClient(t, addr)
	require.NoError(t, admin.ConfigSet(context.Background(), "requirepass", password).Err())
}

func TestRedisDownFailsFastAndRecovers(t *testing.T) {
	srv := redistest.StartServer(t)
	requirePass(t, srv.Addr)
	const timeout = 300 * time.Millisecond
	fc := newPair(t, srv.Addr, timeout)
	x := fc.x
	w := newWindow(t)
	w.Record(t0, 2*time.Second)

	errs, _ := calls(t, fc, w, t0)
	for name, err := range errs {
		require.NoError(t, err, name)
	}

	srv.Stop()
	w.Record(t0, 3*time.Second)
	errs, longest := calls(t, fc, w, t0)
	assert.Less(t, longest, timeout+200*time.Millisecond, "each call gives up within its timeout")
	for name, err := range errs {
		require.Error(t, err, name)
		assert.Contains(t, err.Error(), "fleet: ", name)
		assert.Contains(t, err.Error(), srv.Addr, "%s: names the server", name)
		// go-redis dials again until the deadline: a stopped server
		// shows as one that does not answer.
		assert.Contains(t, err.Error(), "did not answer within 300ms: check that it runs", name)
		assert.NotContains(t, err.Error(), password, name)
		t.Logf("%s: %v", name, err)
	}

	// Back on the same port: the same clients work again, and the
	// sub-window whose flush failed is written.
	again := redistest.StartServerOn(t, srv.Port)
	requirePass(t, again.Addr)
	errs, _ = calls(t, fc, w, t0)
	for name, err := range errs {
		require.NoError(t, err, name)
	}
	got, _ := read(t, x, []string{"GET /a"}, t0)
	assert.Equal(t, answersOf(t, w, t0), got[0])
}

func TestSlowRedisTimesOut(t *testing.T) {
	srv := redistest.StartServer(t)
	requirePass(t, srv.Addr)
	proxy := redistest.StartProxy(t, srv.Addr, time.Second)
	const timeout = 200 * time.Millisecond
	fc := newPair(t, proxy.Addr, timeout)
	x := fc.x
	w := newWindow(t)
	w.Record(t0, 2*time.Second)

	errs, longest := calls(t, fc, w, t0)
	assert.Less(t, longest, timeout+300*time.Millisecond, "each call gives up within its timeout")
	for name, err := range errs {
		require.Error(t, err, name)
		assert.Contains(t, err.Error(), "did not answer within 200ms", name)
		assert.NotContains(t, err.Error(), password, name)
	}
	t.Logf("flush: %v", errs["flush"])

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := x.Flush(ctx)
	if err != nil { // nothing staged is no error
		assert.Contains(t, err.Error(), "fleet: ")
	}
	x.Stage("GET /a", w, t0)
	_, err = x.Flush(ctx)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "the caller gave up")
}
