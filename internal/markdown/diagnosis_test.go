package markdown

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/slowspan/slowspan/alert"
	"github.com/slowspan/slowspan/alert/alerttest"
	"github.com/slowspan/slowspan/internal/figures/figurestest"
	"github.com/slowspan/slowspan/internal/mattermostfake"
)

// requireInOrder checks that want appear in got, in this order.
func requireInOrder(t *testing.T, got string, want ...string) {
	t.Helper()
	rest := got
	for _, w := range want {
		i := strings.Index(rest, w)
		require.GreaterOrEqual(t, i, 0, "%q missing (or out of order) in\n%s", w, got)
		rest = rest[i+len(w):]
	}
}

// TestDiagnosisFirst: the verdict and the time accounting come right under
// the title, before the duration, for every kind; the evidence follows.
func TestDiagnosisFirst(t *testing.T) {
	tests := []struct {
		kind  alert.DiagnosisKind
		want  []string // after the title and before the duration line, in order
		after []string // further down, in order
		avoid []string
	}{
		{kind: alert.DiagnosisCPU, want: []string{
			"**CPU\\: 2\\.10 s on CPU of 2\\.40 s, most in main\\.computeChecksums \\(checksum\\.go\\:42\\)",
			"on CPU 2.10 s · in child spans 50 ms · waiting 250 ms of 2.40 s · look at `main.computeChecksums (checksum.go:42)`",
		}, after: []string{
			"**Your code** (CPU 2.10 s of 2.40 s wall, 210 samples)",
			"- `main.computeChecksums (checksum.go:42)` 76 %",
			"  - `crypto/sha256.block` 60 %",
			"  - `runtime.memmove` 10 %",
			"- `main.loadOrder (orders.go:88)` 20 %",
			"- (runtime / no app frame) 4 %",
			"  - `runtime.gcBgMarkWorker` 4 %",
			"Hottest frame: `main.computeChecksums (checksum.go:42)`",
		}, avoid: []string{"Top functions", "self,"}},
		{kind: alert.DiagnosisNPlusOne, want: []string{
			"**N\\+1\\: 30 x the same postgresql query took 1\\.21 s of 1\\.22 s",
			"on CPU 0 ms · in child spans 1.21 s · waiting 10 ms of 1.22 s",
		}, after: []string{"- 1.21 s client `postgresql SELECT orders WHERE id = ?` 30×, max 60 ms · **N+1**"}},
		{kind: alert.DiagnosisSequentialQueries, want: []string{"**Sequential queries\\: 2 different"},
			after: []string{"42×, max 90 ms · **sequential**", "/stock/{sku}` · **sequential**"}},
		{kind: alert.DiagnosisSlowQuery, want: []string{"**Slow query\\: one postgresql query"},
			after: []string{"42×, max 90 ms · **slow query**"}},
		{kind: alert.DiagnosisDownstream, want: []string{"**Downstream\\: GET inventory"}},
		{kind: alert.DiagnosisWaiting, want: []string{
			"**Waiting\\: 1\\.5 s off\\-CPU with no child span; blocked in time\\.Sleep from main\\.getOrder \\(orders\\.go\\:17\\)",
			"on CPU 0 ms · in child spans 0 ms · waiting 1.50 s of 1.50 s · look at `main.getOrder (orders.go:17)`",
		}, after: []string{
			"**Profile** (CPU 0 ms of 1.50 s wall, 0 samples · off CPU 1.50 s (150 wall samples))",
			"Waited in: `time.Sleep` from `main.getOrder (orders.go:17)` 1.50 s",
		}, avoid: []string{"NaN", "Inf", "No profile", "Top functions", "Slowest child spans"}},
		{kind: alert.DiagnosisMixed, want: []string{"**Mixed\\: 1\\.50 s in queries"}},
		{kind: alert.DiagnosisUnknown, want: []string{
			"**Unknown\\: no child span and no profile reached the collector",
			"on CPU 0 ms · in child spans 0 ms · waiting 2.40 s of 2.40 s",
		}, avoid: []string{"Slowest child spans", "Top functions"}},
	}
	for _, tt := range tests {
		t.Run(string(tt.kind), func(t *testing.T) {
			a := figurestest.Diagnosed(tt.kind)
			got := Alert(a, Options{})
			requireInert(t, got)
			title := "#### :snail: Slow request `GET /orders/{id}` on `checkout`\n"
			require.True(t, strings.HasPrefix(got, title), got)
			head, _, ok := strings.Cut(strings.TrimPrefix(got, title), "\n**"+Duration(a.Duration)+"**")
			require.True(t, ok, got)
			assert.Equal(t, 2, strings.Count(head, "\n")+1, "verdict and time accounting, then the duration:\n%s", got)
			requireInOrder(t, head, tt.want...)
			requireInOrder(t, got, tt.after...)
			for _, w := range tt.avoid {
				assert.NotContains(t, got, w)
			}
			// Evidence is cut before the diagnosis is.
			requireInOrder(t, Alert(a, Options{MaxRunes: 400}), tt.want...)
		})
	}
}

func TestNoDiagnosisAsBefore(t *testing.T) {
	got := Alert(alerttest.Full(), Options{})
	requireInOrder(t, got, "on `checkout`\n**2.40 s** against",
		"**Top functions** (CPU 620 ms of 2.40 s wall, 62 samples)", "Hottest frame: `main.loadOrder`", "- 42% self, 55% total")
	assert.NotContains(t, got, "on CPU")
}

// TestDiagnosisOfAnIncident: the diagnosis of the worst request also comes
// right under the title.
func TestDiagnosisOfAnIncident(t *testing.T) {
	a := incidentAlert(alert.ReasonQuantile)
	a.Diagnosis = figurestest.NPlusOne().Diagnosis
	requireInOrder(t, Alert(a, Options{}), "#### :rotating_light: Slow endpoint", "\n**N\\+1", "\non CPU 0 ms", "\n**p99 2.10 s")
}

// TestHostileDiagnosis: whatever the diagnosis and its evidence say, the
// message makes no link, no mention and no heading or list of theirs, also
// through a webhook.
func TestHostileDiagnosis(t *testing.T) {
	for _, s := range figurestest.HostileTexts {
		t.Run(s, func(t *testing.T) {
			a := figurestest.Hostile(s)
			for _, webhook := range []bool{false, true} {
				out := Alert(a, Options{Webhook: webhook})
				requireInert(t, out)
				if webhook {
					requireInert(t, mattermostfake.ProcessSlackText(out, map[string]string{"USERID": "alice"}))
					assert.NotContains(t, out, "<!")
					assert.NotContains(t, out, "<@")
				}
				// Outside code spans (where Markdown and mentions are
				// inert), nothing of theirs is markup.
				text := outsideCode(out)
				assert.NotContains(t, text, "](http://evil")
				assert.NotContains(t, text, "\n@")
				assert.NotContains(t, text, "\n# ")
				raw := strings.ReplaceAll(text, "\\<", "") // an escaped "<" opens no tag
				assert.NotContains(t, raw, "<script")
				assert.NotContains(t, raw, "<img")
				assert.Contains(t, out, "**", "an unknown kind is never shown as is")
			}
		})
	}
}

// outsideCode drops the code spans of a message as CommonMark reads them: a
// run of n backticks opens a span that the next run of exactly n closes.
func outsideCode(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); {
		if s[i] != '`' {
			b.WriteByte(s[i])
			i++
			continue
		}
		n := 0
		for i+n < len(s) && s[i+n] == '`' {
			n++
		}
		end := -1
		for j := i + n; j < len(s); {
			if s[j] != '`' {
				j++
				continue
			}
			m := 0
			for j+m < len(s) && s[j+m] == '`' {
				m++
			}
			if m == n {
				end = j + m
				break
			}
			j += m
		}
		if end < 0 { // no closing run: the backticks are literal
			b.WriteString(s[i : i+n])
			i += n
			continue
		}
		i = end
	}
	return b.String()
}
