//go:build race

package window

// raceEnabled: the race detector changes allocation sizes, so memory
// figures are only checked without it.
const raceEnabled = true
