package engine

import "github.com/slowspan/slowspan/alert"

// maxReasons bounds alert.Reasons, so Stats stays an array (no map on the
// path of every batch); a test checks it.
const maxReasons = 8

// Stats count what one step of the engine saw and did. The wrapper records
// them as its metrics.
type Stats struct {
	Spans      int64 // every span in the batch
	Slow       int64 // over the threshold that applies to them
	Filtered   int64 // slow, but dropped by include/exclude
	Suppressed int64 // slow, kept, but silenced by dedup
	// BackendErrors counts decisions a shared dedup backend failed to make
	// (the local state made them).
	BackendErrors int64
	// FleetFallbacks counts the timer's evaluations of fleet-wide windows
	// that judged the local windows because Redis failed (or was being
	// backed off).
	FleetFallbacks int64
	// Folded counts alerts folded into a storm summary.
	Folded int64
	alerts [maxReasons]int64 // by position in alert.Reasons
}

// AlertsFor returns the alert count of one reason.
func (s *Stats) AlertsFor(r alert.Reason) int64 {
	if i := reasonIndex(r); i >= 0 {
		return s.alerts[i]
	}
	return 0
}

func (s *Stats) countAlert(r alert.Reason) {
	if i := reasonIndex(r); i >= 0 {
		s.alerts[i]++
	}
}

func reasonIndex(r alert.Reason) int {
	for i, known := range alert.Reasons {
		if known == r && i < maxReasons {
			return i
		}
	}
	return -1
}
