package versiondiff

import (
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/slowspan/slowspan/alert"
)

const ms = time.Millisecond

const (
	orders = "postgresql SELECT * FROM orders WHERE id = ?"
	audit  = "postgresql SELECT * FROM audit WHERE id = ?"
	items  = "GET inventory /items/{id}"
)

func group(desc string, count int, busy time.Duration) alert.ChildGroup {
	return alert.ChildGroup{Kind: "client", Name: strings.Fields(desc)[0], Description: desc, Count: count, Total: busy, Max: busy, Busy: busy}
}

func side(version string, cpu time.Duration, stacks []alert.Stack, children ...alert.ChildGroup) alert.VersionSide {
	return alert.VersionSide{Version: version, Breakdown: &alert.Breakdown{Children: children}, Stacks: stacks, CPUTime: cpu}
}

func stack(v time.Duration, frames ...string) alert.Stack {
	return alert.Stack{Frames: frames, Value: int64(v)}
}

var baseStacks = []alert.Stack{
	stack(30*ms, "main.main", "main.handler", "main.render"),
	stack(10*ms, "main.main", "main.handler", "encoding/json.Marshal"),
}

func TestCompare(t *testing.T) {
	before := side("1.4.2", 40*ms, baseStacks, group(orders, 1, 80*ms), group(items, 1, 30*ms))
	cases := []struct {
		name   string
		before alert.VersionSide
		after  alert.VersionSide
		want   []alert.Change
		top    string
	}{
		{
			name:   "an added slow query is a new group",
			before: before,
			after:  side("1.5.0", 40*ms, baseStacks, group(orders, 1, 82*ms), group(items, 1, 31*ms), group(audit, 1, 1100*ms)),
			want:   []alert.Change{{Kind: alert.ChangeChild, Description: audit, After: 1100 * ms, CountAfter: 1, New: true}},
			top:    "+1.10 s " + audit,
		},
		{
			name:   "a slower existing query",
			before: before,
			after:  side("1.5.0", 40*ms, baseStacks, group(orders, 1, 200*ms), group(items, 1, 30*ms)),
			want:   []alert.Change{{Kind: alert.ChangeChild, Description: orders, Before: 80 * ms, After: 200 * ms, CountBefore: 1, CountAfter: 1}},
			top:    "+120 ms " + orders,
		},
		{
			name:   "an N+1 appears: same group, more spans",
			before: before,
			after:  side("1.5.0", 40*ms, baseStacks, group(orders, 1, 80*ms), group(items, 12, 360*ms)),
			want:   []alert.Change{{Kind: alert.ChangeChild, Description: items, Before: 30 * ms, After: 360 * ms, CountBefore: 1, CountAfter: 12}},
			top:    "+330 ms " + items,
		},
		{
			name:   "an added CPU loop: a function whose self time grew",
			before: before,
			after: side("1.5.0", 680*ms, append(slices.Clone(baseStacks),
				stack(640*ms, "main.main", "main.handler", "main.computeChecksums")), group(orders, 1, 80*ms), group(items, 1, 30*ms)),
			want: []alert.Change{{Kind: alert.ChangeFunction, Description: "main.computeChecksums", After: 640 * ms, New: true}},
			top:  "+640 ms CPU in main.computeChecksums",
		},
		{
			name:   "a gone group and a shrunk function",
			before: before,
			after:  side("1.5.0", 20*ms, []alert.Stack{stack(10*ms, "main.main", "main.render"), stack(10*ms, "encoding/json.Marshal")}, group(orders, 1, 80*ms)),
			want: []alert.Change{
				{Kind: alert.ChangeChild, Description: items, Before: 30 * ms, CountBefore: 1, Gone: true},
				{Kind: alert.ChangeFunction, Description: "main.render", Before: 30 * ms, After: 10 * ms},
			},
			top: "−30 ms " + items,
		},
		{
			name:   "unchanged versions: noise only",
			before: before,
			after: side("1.5.0", 44*ms, []alert.Stack{stack(33*ms, "main.main", "main.handler", "main.render"), stack(11*ms, "main.main", "encoding/json.Marshal")},
				group(orders, 1, 86*ms), group(items, 1, 33*ms), group("redis GET", 1, 4*ms)),
			want: nil,
			top:  "",
		},
		{
			name:   "nothing known",
			before: alert.VersionSide{},
			after:  alert.VersionSide{Version: "2"},
		},
		{
			name:   "an unknown side is not an idle one: the after side without an exemplar",
			before: before,
			after:  alert.VersionSide{Version: "1.5.0"},
		},
		{
			name:   "without the after side's profile, only the child groups compare",
			before: before,
			after:  side("1.5.0", 0, nil, group(orders, 1, 80*ms), group(items, 1, 30*ms), group(audit, 1, 1100*ms)),
			want:   []alert.Change{{Kind: alert.ChangeChild, Description: audit, After: 1100 * ms, CountAfter: 1, New: true}},
			top:    "+1.10 s " + audit,
		},
		{
			name:   "groups without a description match by kind and name",
			before: side("1", 0, nil, alert.ChildGroup{Kind: "internal", Name: "render", Count: 1, Total: 10 * ms}),
			after:  side("2", 0, nil, alert.ChildGroup{Kind: "internal", Name: "render", Count: 1, Total: 90 * ms}, alert.ChildGroup{Kind: "client", Name: "render", Count: 1, Total: 10 * ms}),
			want: []alert.Change{
				{Kind: alert.ChangeChild, Description: "internal render", Before: 10 * ms, After: 90 * ms, CountBefore: 1, CountAfter: 1},
				{Kind: alert.ChangeChild, Description: "render", After: 10 * ms, CountAfter: 1, New: true},
			},
			top: "+80 ms internal render",
		},
		{
			name:   "stack values without a CPU time count as nanoseconds",
			before: side("1", 0, []alert.Stack{stack(10*ms, "a")}),
			after:  side("2", 0, []alert.Stack{stack(10*ms, "a"), stack(90*ms, "b")}),
			want:   []alert.Change{{Kind: alert.ChangeFunction, Description: "b", After: 90 * ms, New: true}},
			top:    "+90 ms CPU in b",
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := Compare(tc.before, tc.after)
			assert.Equal(t, tc.want, got)
			assert.Equal(t, tc.top, Top(got))
		})
	}
}

func TestCompareIsBoundedAndSortedByImpact(t *testing.T) {
	var b, a []alert.ChildGroup
	var sb, sa []alert.Stack
	for i := range 50 {
		d := "SELECT " + strings.Repeat("x", i)
		b = append(b, group(d, 1, 10*ms))
		a = append(a, group(d, 1, time.Duration(20+i)*ms))
		sa = append(sa, stack(time.Duration(100+i)*ms, "main", "f"+strings.Repeat("y", i)))
	}
	sb = append(sb, stack(ms, "main", "f"))
	got := Compare(side("1", 0, sb, b...), side("2", 0, sa, a...))
	require.Len(t, got, alert.MaxChanges)
	for i := 1; i < len(got); i++ {
		assert.GreaterOrEqual(t, abs(got[i-1].Delta()), abs(got[i].Delta()))
	}
	assert.Equal(t, alert.ChangeFunction, got[0].Kind)
}

func TestCompareIsDeterministic(t *testing.T) {
	var a []alert.ChildGroup
	var sa []alert.Stack
	for i := range 40 {
		// Equal deltas everywhere: only the tie-breaks order them.
		a = append(a, group("q"+string(rune('a'+i%26))+strings.Repeat("z", i/26), 1, 50*ms))
		sa = append(sa, stack(50*ms, "main", "f"+string(rune('a'+i%26))+strings.Repeat("z", i/26)))
	}
	want := Compare(alert.VersionSide{}, side("2", 0, sa, a...))
	r := rand.New(rand.NewPCG(1, 2))
	for range 20 {
		r.Shuffle(len(a), func(i, j int) { a[i], a[j] = a[j], a[i] })
		r.Shuffle(len(sa), func(i, j int) { sa[i], sa[j] = sa[j], sa[i] })
		assert.Equal(t, want, Compare(alert.VersionSide{}, side("2", 0, sa, a...)))
	}
}

func TestCompareHostileInputs(t *testing.T) {
	huge := strings.Repeat("f", 1<<16)
	var stacks []alert.Stack
	for range MaxInputStacks + 100 {
		stacks = append(stacks, alert.Stack{Frames: []string{huge}, Value: math.MaxInt64})
	}
	stacks = append(stacks, alert.Stack{}, alert.Stack{Frames: []string{"x"}, Value: -5})
	children := make([]alert.ChildGroup, MaxInputGroups+100)
	for i := range children {
		children[i] = alert.ChildGroup{Kind: "client\x1b[2J", Description: "</td><script>", Count: math.MaxInt, Total: math.MaxInt64, Busy: -1}
	}
	after := alert.VersionSide{Breakdown: &alert.Breakdown{Children: children}, Stacks: stacks, CPUTime: math.MaxInt64}
	before := alert.VersionSide{Breakdown: &alert.Breakdown{Children: []alert.ChildGroup{{Name: "x", Total: math.MinInt64}}}, CPUTime: math.MinInt64}
	got := Compare(before, after)
	require.LessOrEqual(t, len(got), alert.MaxChanges)
	for _, c := range got {
		assert.GreaterOrEqual(t, c.Before, time.Duration(0))
		assert.GreaterOrEqual(t, c.After, time.Duration(0))
	}
	assert.NotEmpty(t, Top(got))
}

func FuzzCompare(f *testing.F) {
	f.Add("SELECT a", int64(80), int64(200), 1, 3, "main.f", int64(40), int64(640), int64(700))
	f.Add("", int64(-1), int64(math.MaxInt64), -1, math.MaxInt, "", int64(math.MinInt64), int64(math.MaxInt64), int64(0))
	f.Fuzz(func(t *testing.T, desc string, beforeMs, afterMs int64, cb, ca int, fn string, sb, sa, cpu int64) {
		before := alert.VersionSide{
			Breakdown: &alert.Breakdown{Children: []alert.ChildGroup{{Kind: "client", Description: desc, Count: cb, Total: time.Duration(beforeMs), Busy: time.Duration(beforeMs)}}},
			Stacks:    []alert.Stack{{Frames: strings.Split(fn, ";"), Value: sb}, {Frames: []string{"other"}, Value: sa}},
			CPUTime:   time.Duration(cpu),
		}
		after := alert.VersionSide{
			Breakdown: &alert.Breakdown{Children: []alert.ChildGroup{{Kind: "client", Description: desc, Count: ca, Total: time.Duration(afterMs)}, {Name: fn, Total: time.Duration(sa)}}},
			Stacks:    []alert.Stack{{Frames: []string{fn}, Value: sa}},
			CPUTime:   time.Duration(cpu / 2),
		}
		got := Compare(before, after)
		if len(got) > alert.MaxChanges {
			t.Fatalf("%d changes", len(got))
		}
		for i, c := range got {
			if c.Before < 0 || c.After < 0 || c.CountBefore < 0 || c.CountAfter < 0 {
				t.Fatalf("negative figures in %+v", c)
			}
			if c.New && c.Gone {
				t.Fatalf("new and gone: %+v", c)
			}
			if d := abs(c.Delta()); d < NoiseFloor {
				t.Fatalf("change under the noise floor: %+v", c)
			}
			if i > 0 && abs(got[i-1].Delta()) < abs(c.Delta()) {
				t.Fatalf("not sorted by impact: %+v", got)
			}
		}
		if !slices.EqualFunc(got, Compare(before, after), func(a, b alert.Change) bool { return a == b }) {
			t.Fatal("not deterministic")
		}
		_ = Top(got)
	})
}
