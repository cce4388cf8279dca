package alert

// Attribute names written on an alert span. They are an API: see README.md.
// Duration, trace and span ids, the start time and the name come from the span
// itself and are not repeated.
const (
	AttrSchema                = "slowspan.schema"
	AttrID                    = "slowspan.alert.id"
	AttrReason                = "slowspan.alert.reason"
	AttrService               = "slowspan.key.service"
	AttrMethod                = "slowspan.key.method"
	AttrRoute                 = "slowspan.key.route"
	AttrRule                  = "slowspan.rule"
	AttrThresholdNs           = "slowspan.threshold_ns"
	AttrSuppressedCount       = "slowspan.suppressed.count"
	AttrSuppressedMaxDuration = "slowspan.suppressed.max_duration_ns"
	AttrSuppressedSince       = "slowspan.suppressed.since_unix_nano"
	AttrLinkTrace             = "slowspan.link.trace"
	AttrLinkProfile           = "slowspan.link.profile"
	// AttrBreakdown and AttrProfile hold JSON documents (the "breakdown" and
	// "profile" objects of the JSON form); AttrProfilePprof holds bytes.
	AttrBreakdown    = "slowspan.breakdown"
	AttrProfile      = "slowspan.profile"
	AttrProfilePprof = "slowspan.profile.pprof"
	// AttrFolded holds the JSON "folded" object of a storm summary.
	AttrFolded = "slowspan.folded"
	// AttrIncident and AttrWindow hold the JSON "incident" and "window"
	// objects (schema 2).
	AttrIncident = "slowspan.incident"
	AttrWindow   = "slowspan.window"
	// AttrRegression holds the JSON "regression" object (schema 2,
	// additive).
	AttrRegression = "slowspan.regression"

	// attrPrefix marks every attribute of this contract; Decode leaves them
	// out of Alert.Attributes.
	attrPrefix = "slowspan."
)

// Bounds Decode applies to Attributes and Resource, so that a span with
// thousands of attributes or megabyte values cannot blow up a message or a
// log line downstream.
const (
	MaxAttributes  = 128
	MaxValueLength = 2048
)
