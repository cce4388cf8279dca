//go:build race

package window

// raceEnabled: the race detector slows recording down and changes
// allocation sizes, so the memory figures are measured without it.
const raceEnabled = true
