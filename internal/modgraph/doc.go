// Package modgraph holds no code: its test guards the module graph of the
// spanprofiler module, which apps import and which must stay free of the
// collector's dependencies.
package modgraph
