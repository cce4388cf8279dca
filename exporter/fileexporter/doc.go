// Package fileexporter holds the alertfile exporter: it writes the slowspan
// alerts found in its traces as JSON lines to a rotated file and, optionally,
// one self-contained HTML report (with profile files) per alert.
package fileexporter // import "github.com/slowspan/slowspan/exporter/fileexporter"
