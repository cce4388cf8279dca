//go:build race

package window

// raceEnabled: the race detector slows recording down and changes
// allocation sizes, so the heap figure is checked without it.
const raceEnabled = true
