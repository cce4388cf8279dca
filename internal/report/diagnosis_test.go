package report

import (
	"html/template"
	"math"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/slowspan/slowspan/alert"
	"github.com/slowspan/slowspan/alert/alerttest"
	"github.com/slowspan/slowspan/internal/figures"
	"github.com/slowspan/slowspan/internal/figures/figurestest"
)

// TestDiagnosisFirst: every kind's verdict and time accounting come right
// under the title, before the duration; an alert without a diagnosis has
// none.
func TestDiagnosisFirst(t *testing.T) {
	for _, kind := range figurestest.Kinds {
		t.Run(string(kind), func(t *testing.T) {
			a := figurestest.Diagnosed(kind)
			set, err := Build(a)
			require.NoError(t, err)
			assert.Empty(t, set.Warnings)
			page := withoutOwnScript(string(set.HTML))
			h1 := strings.Index(page, "<h1>Slow request:")
			// The sentence stands for the verdict: it starts with its label.
			verdict := strings.Index(page, `<p class="verdict"><strong>`+strings.ReplaceAll(template.HTMLEscapeString(a.Diagnosis.Text), "+", "&#43;")+"</strong>")
			accounting := strings.Index(page, "<p class=\"sub\">"+figures.TimeLine(a.Diagnosis.Time, a.Duration))
			duration := strings.Index(page, `<p class="big">`)
			require.True(t, h1 >= 0 && h1 < verdict && verdict < accounting && accounting < duration,
				"title %d, verdict %d, accounting %d, duration %d", h1, verdict, accounting, duration)
			assert.NotContains(t, page, "NaN")
			assert.NotContains(t, page, "Inf")
		})
	}
	set, err := Build(alerttest.Full())
	require.NoError(t, err)
	assert.NotContains(t, string(set.HTML), `<p class="verdict">`)
}

// TestSleepOnlyProfile: a request that only slept has a profile with no CPU
// time: it renders its waits, no division by zero and no "no samples".
func TestSleepOnlyProfile(t *testing.T) {
	a := figurestest.Waiting()
	a.Profile.Stacks = []alert.Stack{{Frames: []string{"main.main"}, Value: 0}}
	set, err := Build(a)
	require.NoError(t, err)
	page := withoutOwnScript(string(set.HTML))
	for _, want := range []string{
		"; off CPU 1.5s, 150 wall-clock samples.",
		`<tr><td class="mono">time.Sleep</td><td class="mono">main.getOrder (orders.go:17)</td><td class="num">1.5s</td></tr>`,
	} {
		assert.Contains(t, page, want)
	}
	for _, avoid := range []string{"NaN", "Inf", "No profile samples", "<svg"} {
		assert.NotContains(t, page, avoid)
	}
	assert.Nil(t, set.Folded, "no CPU stacks, no folded file")
	a.Profile.ByAppCode = []alert.CodeGroup{{Function: "main.x", Share: math.NaN()}}
	set, err = Build(a)
	require.NoError(t, err)
	assert.NotContains(t, string(set.HTML), "NaN")
}

// TestHostileDiagnosis: whatever the diagnosis and its evidence say, the
// page holds no markup of theirs.
func TestHostileDiagnosis(t *testing.T) {
	for _, s := range figurestest.HostileTexts {
		t.Run(s, func(t *testing.T) {
			set, err := Build(figurestest.Hostile(s))
			require.NoError(t, err)
			page := withoutOwnScript(string(set.HTML))
			checkMarkup(t, page, set.Name)
			assert.NotRegexp(t, scriptRE, page)
			assert.NotContains(t, page, "<img")
			assert.NotContains(t, page, `href="javascript`)
			assert.Contains(t, page, `<p class="verdict"><strong>`, "the sentence is shown, escaped")
		})
	}
}
