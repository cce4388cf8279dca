package alert

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

func regressionAlert() Alert {
	a := sampleAlert()
	a.Reason = ReasonRegression
	ms := time.Millisecond
	a.Regression = &Regression{
		Before: VersionSide{
			Version: "1.4.2",
			Window:  &WindowFigures{Over: 5 * time.Minute, Count: 900, P95: 180 * ms, P99: 240 * ms, Quantile: 0.95, QuantileValue: 180 * ms},
			Breakdown: &Breakdown{SelfTime: 20 * ms, Children: []ChildGroup{
				{Kind: "client", Name: "SELECT orders", Description: "postgresql SELECT * FROM orders WHERE id = ?", Count: 1, Total: 80 * ms, Max: 80 * ms, Busy: 80 * ms},
			}},
			Stacks:  []Stack{{Frames: []string{"main.main", "main.handler"}, Value: int64(40 * ms)}},
			CPUTime: 40 * ms,
		},
		After: VersionSide{
			Version: "1.5.0",
			Window:  &WindowFigures{Over: 5 * time.Minute, Count: 870, P95: 1300 * ms, P99: 1500 * ms, Quantile: 0.95, QuantileValue: 1300 * ms},
			Breakdown: &Breakdown{SelfTime: 20 * ms, Children: []ChildGroup{
				{Kind: "client", Name: "SELECT orders", Description: "postgresql SELECT * FROM orders WHERE id = ?", Count: 1, Total: 200 * ms, Max: 200 * ms, Busy: 200 * ms},
				{Kind: "client", Name: "SELECT audit", Description: "postgresql SELECT * FROM audit WHERE id = ?", Count: 1, Total: 1100 * ms, Max: 1100 * ms, Busy: 1100 * ms},
			}},
			Stacks:  []Stack{{Frames: []string{"main.main", "main.handler", "main.computeChecksums"}, Value: int64(640 * ms)}},
			CPUTime: 680 * ms,
		},
		Changes: []Change{
			{Kind: ChangeChild, Description: "postgresql SELECT * FROM audit WHERE id = ?", After: 1100 * ms, CountAfter: 1, New: true},
			{Kind: ChangeFunction, Description: "main.computeChecksums", After: 640 * ms, New: true},
			{Kind: ChangeChild, Description: "postgresql SELECT * FROM orders WHERE id = ?", Before: 80 * ms, After: 200 * ms, CountBefore: 1, CountAfter: 1},
		},
	}
	return a
}

func TestRegressionReasonOpensAnIncident(t *testing.T) {
	assert.True(t, ReasonRegression.Valid())
	for _, r := range Reasons {
		assert.Equal(t, r == ReasonQuantile || r == ReasonRatio || r == ReasonRegression, r.OpensIncident(), r)
	}
}

func TestRegressionEncodeDecodeRoundTrip(t *testing.T) {
	_, res, span := newSpan(t)
	want := regressionAlert()
	Encode(want, span)
	v, ok := span.Attributes().Get(AttrRegression)
	require.True(t, ok)
	assert.Contains(t, v.Str(), `"version":"1.5.0"`)
	got, ok := Decode(res, span)
	require.True(t, ok)
	assert.Equal(t, want.Regression, got.Regression)
	assert.Equal(t, ReasonRegression, got.Reason)
}

func TestRegressionJSONRoundTripAndFields(t *testing.T) {
	want := regressionAlert()
	data, err := json.Marshal(want)
	require.NoError(t, err)
	var got Alert
	require.NoError(t, json.Unmarshal(data, &got))
	assert.Equal(t, want.Regression, got.Regression)

	var raw map[string]any
	require.NoError(t, json.Unmarshal(data, &raw))
	r := raw["regression"].(map[string]any)
	after := r["after"].(map[string]any)
	for _, k := range []string{"version", "window", "breakdown", "cpu_time_ms", "stacks"} {
		assert.Contains(t, after, k)
	}
	c := r["changes"].([]any)[0].(map[string]any)
	for _, k := range []string{"kind", "description", "before_ms", "after_ms", "count_after", "new"} {
		assert.Contains(t, c, k)
	}
	assert.Equal(t, "child", c["kind"])

	// Absent when nil.
	data, err = json.Marshal(sampleAlert())
	require.NoError(t, err)
	assert.NotContains(t, string(data), "regression")
}

func TestDecodeDamagedRegression(t *testing.T) {
	huge := strings.Repeat("f;", 5000)
	var stacks []string
	for range MaxRegressionStacks + 50 {
		stacks = append(stacks, `{"stack":"`+huge+`","value":1}`)
	}
	var changes []string
	for range MaxChanges + 5 {
		changes = append(changes, `{"kind":"child\u001b[2J","description":"`+strings.Repeat(`x\u0007`, 2000)+`","before_ms":-5,"count_before":-3}`)
	}
	cases := map[string]struct {
		doc  string
		want func(t *testing.T, r *Regression)
	}{
		"not json":   {`{"before":`, func(t *testing.T, r *Regression) { assert.Nil(t, r) }},
		"wrong type": {`[]`, func(t *testing.T, r *Regression) { assert.Nil(t, r) }},
		"damaged window and breakdown are dropped": {
			`{"before":{"version":"1\u001b[31m","window":{"count":"x"},"breakdown":7},"after":{"version":"` + strings.Repeat("v", 1000) + `"}}`,
			func(t *testing.T, r *Regression) {
				require.NotNil(t, r)
				assert.Equal(t, "1[31m", r.Before.Version)
				assert.Nil(t, r.Before.Window)
				assert.Nil(t, r.Before.Breakdown)
				assert.LessOrEqual(t, len(r.After.Version), maxVersionLength)
			}},
		"huge lists are bounded": {
			`{"after":{"stacks":[` + strings.Join(stacks, ",") + `]},"changes":[` + strings.Join(changes, ",") + `]}`,
			func(t *testing.T, r *Regression) {
				require.NotNil(t, r)
				assert.Len(t, r.After.Stacks, MaxRegressionStacks)
				assert.Len(t, r.After.Stacks[0].Frames, MaxRegressionFrames)
				assert.Len(t, r.Changes, MaxChanges)
				c := r.Changes[0]
				assert.Equal(t, ChangeKind("child[2J"), c.Kind)
				assert.LessOrEqual(t, len(c.Description), maxChangeText)
				assert.NotContains(t, c.Description, "\u0007")
				assert.Zero(t, c.Before)
				assert.Zero(t, c.CountBefore)
			}},
		"non-positive stacks are dropped": {`{"after":{"stacks":[{"stack":"a","value":0},{"stack":"b","value":-1},{"stack":"","value":3}]}}`,
			func(t *testing.T, r *Regression) {
				require.NotNil(t, r)
				assert.Equal(t, []Stack{{Value: 3}}, r.After.Stacks)
			}},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			_, res, span := newSpan(t)
			Encode(sampleAlert(), span)
			span.Attributes().PutStr(AttrRegression, tc.doc)
			got, ok := Decode(res, span)
			require.True(t, ok)
			tc.want(t, got.Regression)

			if !json.Valid([]byte(tc.doc)) {
				return // the line would not parse at all
			}
			var j Alert
			require.NoError(t, json.Unmarshal([]byte(`{"schema":2,"id":"x","regression":`+tc.doc+`}`), &j), "a damaged regression never fails the line")
			tc.want(t, j.Regression)
		})
	}
}

func TestRegressionIsBoundedOnWrite(t *testing.T) {
	a := regressionAlert()
	for range 100 {
		a.Regression.Changes = append(a.Regression.Changes, a.Regression.Changes[0])
		a.Regression.After.Breakdown.Children = append(a.Regression.After.Breakdown.Children, a.Regression.After.Breakdown.Children[0])
	}
	a.Regression.After.Breakdown.Spans = []ChildSpan{{Group: 80}, {Group: 1}}
	data, err := json.Marshal(a)
	require.NoError(t, err)
	var got Alert
	require.NoError(t, json.Unmarshal(data, &got))
	assert.Len(t, got.Regression.Changes, MaxChanges)
	assert.Len(t, got.Regression.After.Breakdown.Children, MaxRegressionChildren)
	assert.Equal(t, []ChildSpan{{Group: -1}, {Group: 1}}, got.Regression.After.Breakdown.Spans)
	assert.Len(t, a.Regression.After.Breakdown.Children, 102, "the caller's alert is not modified")
}

func FuzzDecodeRegression(f *testing.F) {
	doc, _ := json.Marshal(regressionAlert().Regression.toJSON())
	f.Add(string(doc))
	f.Add(`{"before":{"version":"\u001b[2J","stacks":[{"stack":";;;","value":9}]},"changes":[{"after_ms":1e308}]}`)
	f.Add(`{"after":{"breakdown":{"children":[{"count":-1}],"spans":[{"group":99}]}}}`)
	f.Fuzz(func(t *testing.T, doc string) {
		td := ptrace.NewTraces()
		rs := td.ResourceSpans().AppendEmpty()
		span := rs.ScopeSpans().AppendEmpty().Spans().AppendEmpty()
		span.Attributes().PutInt(AttrSchema, 2)
		span.Attributes().PutStr(AttrRegression, doc)
		got, ok := Decode(rs.Resource(), span)
		if !ok {
			t.Fatal("span with a schema attribute must decode")
		}
		checkRegressionBounded(t, got.Regression)
		out, err := json.Marshal(got)
		if err != nil {
			t.Fatalf("marshal: %v", err)
		}
		var back Alert
		if err := json.Unmarshal(out, &back); err != nil {
			t.Fatalf("re-read of our own output failed: %v\n%s", err, out)
		}
		if (back.Regression == nil) != (got.Regression == nil) {
			t.Fatalf("regression lost in a round trip:\n%s", out)
		}
	})
}

func checkRegressionBounded(t *testing.T, r *Regression) {
	t.Helper()
	if r == nil {
		return
	}
	if len(r.Changes) > MaxChanges {
		t.Fatalf("%d changes", len(r.Changes))
	}
	bad := func(s string, n int) bool {
		return len(s) > n || strings.ContainsFunc(s, func(r rune) bool { return r < 0x20 || r == 0x7f })
	}
	for _, c := range r.Changes {
		if bad(c.Description, maxChangeText) || bad(string(c.Kind), maxEnumLength) || c.Before < 0 || c.After < 0 {
			t.Fatalf("unsanitised change %+v", c)
		}
	}
	for _, s := range []VersionSide{r.Before, r.After} {
		if bad(s.Version, maxVersionLength) || len(s.Stacks) > MaxRegressionStacks {
			t.Fatalf("unbounded side %q, %d stacks", s.Version, len(s.Stacks))
		}
		for _, st := range s.Stacks {
			if len(st.Frames) > MaxRegressionFrames || st.Value <= 0 {
				t.Fatalf("bad stack %d frames value %d", len(st.Frames), st.Value)
			}
		}
		if s.Breakdown != nil && len(s.Breakdown.Children) > MaxRegressionChildren {
			t.Fatalf("%d children", len(s.Breakdown.Children))
		}
	}
}

func TestVersionSideRoundTrip(t *testing.T) {
	side := regressionAlert().Regression.Before
	data, err := MarshalVersionSide(side)
	require.NoError(t, err)
	got, err := UnmarshalVersionSide(data)
	require.NoError(t, err)
	assert.Equal(t, side.Version, got.Version)
	require.NotNil(t, got.Window)
	assert.Equal(t, side.Window.Count, got.Window.Count)
	assert.Equal(t, side.Window.QuantileValue, got.Window.QuantileValue)
	assert.Equal(t, side.Stacks, got.Stacks)
	assert.Equal(t, side.CPUTime, got.CPUTime)

	_, err = UnmarshalVersionSide([]byte(`[1]`))
	require.Error(t, err)
	got, err = UnmarshalVersionSide([]byte(`{"version":"1.0\u001b[2J","window":{"count":"many"}}`))
	require.NoError(t, err, "a damaged window is dropped, not an error")
	assert.Nil(t, got.Window)
	assert.Equal(t, "1.0[2J", got.Version)
}

func FuzzUnmarshalVersionSide(f *testing.F) {
	data, _ := MarshalVersionSide(regressionAlert().Regression.Before)
	f.Add(data)
	f.Add([]byte(`{"version":"\u001b[2J","stacks":[{"stack":";;;","value":9}],"window":{"p95_ms":-1}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		side, err := UnmarshalVersionSide(data)
		if err != nil {
			return
		}
		checkRegressionBounded(t, &Regression{Before: side})
		out, err := MarshalVersionSide(side)
		if err != nil {
			t.Fatalf("marshal: %v", err)
		}
		if _, err := UnmarshalVersionSide(out); err != nil {
			t.Fatalf("re-read of our own output failed: %v\n%s", err, out)
		}
	})
}
