// Package fleet shares the window triggers' state across a fleet of
// collectors through Redis: the sliding windows of the endpoints (Windows)
// and the incidents they open (Incidents).
package fleet
