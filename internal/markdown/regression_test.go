package markdown

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/slowspan/slowspan/alert"
	"github.com/slowspan/slowspan/internal/figures/figurestest"
)

func TestRegressionPost(t *testing.T) {
	msg := Alert(figurestest.Regression(), Options{})
	t.Log("\n" + msg)
	for _, want := range []string{
		"#### :rotating_light: Slower since `1.5.0`: `GET /orders/{id}` on `checkout`",
		"Incident opened: a new version of the endpoint is slower than the previous one.",
		"**What changed in `1.5.0`** (from `1.4.2`, p95 180 ms → 1.30 s, 7.2x): +1.10 s `postgresql SELECT * FROM audit WHERE id = ?`\n" +
			"- new: 1 x `postgresql SELECT * FROM audit WHERE id = ?` (+1.10 s)\n" +
			"- +600 ms CPU in `crypto/sha256.block` (new)\n" +
			"- new: 12 x `GET inventory /items/{id}` (+420 ms)\n",
	} {
		assert.Contains(t, msg, want)
	}
	assert.NotContains(t, msg, "SELECT * FROM orders WHERE id = ?` (", "only the top 3 changes")
	// Under the diagnosis, above the window's figures.
	assert.Less(t, strings.Index(msg, "Slow query:"), strings.Index(msg, "**What changed"))
	assert.Less(t, strings.Index(msg, "**What changed"), strings.Index(msg, "**Window**"))

	t.Run("no changes", func(t *testing.T) {
		a := figurestest.Regression()
		a.Regression.Changes = nil
		a.Regression.After = a.Regression.Before
		a.Regression.After.Version = "1.5.0"
		assert.Contains(t, Alert(a, Options{}), "no change above the noise")
	})
	t.Run("a version-less side and no windows", func(t *testing.T) {
		a := figurestest.Regression()
		a.Regression.Before.Version, a.Regression.Before.Window = "", nil
		assert.Contains(t, Alert(a, Options{}), "**What changed in `1.5.0`** (from `(no version)`): +1.10 s")
	})
	t.Run("resolved: one line", func(t *testing.T) {
		a := figurestest.Regression()
		a.Reason = alert.ReasonResolved
		a.Incident.State = alert.IncidentResolved
		assert.NotContains(t, Alert(a, Options{}), "What changed")
	})
}
