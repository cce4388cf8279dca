// Package pipeline makes a collector component of the engine: one shared
// instance per configuration (Component), one Node per pipeline that lists
// it. It owns what the engine does not: the consumers alerts go to, the
// timer that delivers waiting alerts and saves the dedup state, and the
// component's own metrics.
package pipeline
