package figures

import "github.com/slowspan/slowspan/alert"

// ReasonText says in plain words why an alert fired ("First slow request
// for this endpoint" rather than "first"); a reason this version does not
// know reads as "Unknown reason", so a damaged or newer alert never puts
// its own text here.
func ReasonText(r alert.Reason) string {
	switch r {
	case alert.ReasonFirst:
		return "First slow request for this endpoint"
	case alert.ReasonWindowExpired:
		return "First slow request since the last alert's dedup window ended"
	case alert.ReasonEscalation:
		return "Much slower than the last alert for this endpoint"
	case alert.ReasonStorm:
		return "Summary of an alert storm"
	case alert.ReasonQuantile:
		return "The endpoint's latency quantile crossed the threshold"
	case alert.ReasonRatio:
		return "Too large a share of the endpoint's requests were slow"
	case alert.ReasonResolved:
		return "The endpoint is back under its threshold"
	case alert.ReasonRegression:
		return "A new version of the endpoint is slower than the previous one"
	}
	return "Unknown reason"
}

// ProfileSource says in plain words how a profile's samples were tied to
// the request ("linked by span id (OTLP)" rather than "otlp_link"); an
// unknown source reads as "other".
func ProfileSource(source string) string {
	switch source {
	case "otlp_link":
		return "linked by span id (OTLP)"
	case "span_id_attribute":
		return "matched by a span id attribute on the samples"
	case "pprof_label":
		return "matched by a span id pprof label"
	}
	return "other"
}
