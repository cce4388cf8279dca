package route

// Untrusted text is made safe by package safetext: Cut bounds the work on
// a value before anything scans it, Clean makes it valid and bounded.

// Output and work bounds.
const (
	maxRouteLen = 256 // Route, and Normalize output
	maxPathLen  = 1024
	maxSegments = 32 // Normalize output, counting a trailing {rest}

	// scanLimit is how much of any attribute is looked at. Everything is
	// cut to this first, so a 10 MB value costs no more than a 4 KB one;
	// it leaves room for the 1 KB Path cap even after escapes and control
	// characters are dropped.
	scanLimit = 4096
)
