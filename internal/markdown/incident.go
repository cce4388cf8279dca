package markdown

import (
	"time"

	"github.com/slowspan/slowspan/alert"
	"github.com/slowspan/slowspan/internal/figures"
)

// Incident post states: the first line of an incident's post, which is
// edited in place as the incident moves on.
const (
	StateFiring    = "firing"
	StateEscalated = "escalated"
	StateResolved  = "resolved"
)

// IncidentStatus is the status line that heads an incident's post: its
// state and since when, e.g. "**Status: :red_circle: firing** since 09:50
// UTC · updated 10:00 UTC", or, resolved, "**Status: :white_check_mark:
// resolved** at 10:13 UTC after 23m — peak p99 2.60 s, 84 slow requests".
// "updated" is the start of the request the latest alert is about.
// state is one of the State constants (the exporter keeps it: a reminder
// after an escalation is still escalated). Only our own text: nothing from
// the alert needs escaping.
func IncidentStatus(a alert.Alert, state string) string {
	in := a.Incident
	if in == nil {
		return ""
	}
	at := func(t time.Time) string { return t.UTC().Format("15:04 MST") }
	switch state {
	case StateResolved:
		s := "**Status: :white_check_mark: resolved**"
		if !in.ResolvedAt.IsZero() {
			s += " at " + at(in.ResolvedAt)
			if !in.OpenedAt.IsZero() && in.ResolvedAt.After(in.OpenedAt) {
				s += " after " + figures.Lasted(in.ResolvedAt.Sub(in.OpenedAt))
			}
		}
		return s + " — " + figures.Peak(a) + ", " + figures.Requests(in.SlowCount, "slow")
	default:
		s := "**Status: :red_circle: firing**"
		if state == StateEscalated {
			s = "**Status: :large_orange_diamond: escalated** · firing"
		}
		if !in.OpenedAt.IsZero() {
			s += " since " + at(in.OpenedAt)
		}
		if !a.Start.IsZero() && a.Start.After(in.OpenedAt) {
			s += " · updated " + at(a.Start)
		}
		return s
	}
}
