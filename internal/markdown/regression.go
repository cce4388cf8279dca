package markdown

import (
	"github.com/slowspan/slowspan/alert"
	"github.com/slowspan/slowspan/internal/figures"
	"github.com/slowspan/slowspan/internal/versiondiff"
)

// maxChangesShown is how many of a regression's changes a post lists: the
// report has them all.
const maxChangesShown = 3

// regressionLines say what changed in the new version of a regression
// alert: the versions and their figures, the change that explains most,
// and the top changes as a short list; none without a regression.
//
//	**What changed in `1.5.0`** (from `1.4.2`, p95 180 ms → 1.30 s, 7.2x): +1.10 s `postgresql SELECT …`
//	- new: 1 x `postgresql SELECT * FROM audit WHERE id = ?` (+1.10 s)
//	- +600 ms CPU in `crypto/sha256.block` (new)
func regressionLines(r renderer, a alert.Alert) []string {
	reg := a.Regression
	if reg == nil {
		return nil
	}
	line := "**What changed in " + r.code(figures.Version(reg.After.Version), maxShort) + "** (from " +
		r.code(figures.Version(reg.Before.Version), maxShort)
	if f := figures.RegressionFigures(reg); f != "" {
		line += ", " + f
	}
	line += ")"
	changes := reg.Changes
	if len(changes) == 0 {
		changes = versiondiff.Compare(reg.Before, reg.After)
	}
	if len(changes) == 0 {
		return []string{line + ": no change above the noise between the two versions' worst requests."}
	}
	lead, tail := figures.ChangeHeadline(changes[0])
	lines := []string{line + ": " + lead + r.code(changes[0].Description, maxValue) + tail}
	for _, c := range changes[:min(len(changes), maxChangesShown)] {
		lead, tail := figures.ChangeLine(c)
		lines = append(lines, "- "+lead+r.code(c.Description, maxValue)+tail)
	}
	return lines
}
