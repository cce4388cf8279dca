package incident

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"go.opentelemetry.io/collector/extension/xextension/storage"

	"github.com/slowspan/slowspan/alert"
)

// storageKey holds every durable incident in one record: open incidents
// are few (one per slow endpoint), and they change only when an alert
// goes out.
const storageKey = "incidents"

// formatVersion is the version of the saved record.
const formatVersion = 1

type savedRecord struct {
	Version   int             `json:"version"`
	Incidents []savedIncident `json:"incidents"`
}

type savedIncident struct {
	Service    string    `json:"service"`
	Method     string    `json:"method"`
	Route      string    `json:"route"`
	ID         string    `json:"id"`
	Mode       string    `json:"mode"`
	OpenedAt   time.Time `json:"opened_at"`
	FiredNs    int64     `json:"fired_ns,omitempty"`
	FiredRatio float64   `json:"fired_ratio,omitempty"`
	PeakNs     int64     `json:"peak_ns,omitempty"`
	PeakRatio  float64   `json:"peak_ratio,omitempty"`
	SlowCount  int64     `json:"slow_count"`
	LastTrue   time.Time `json:"last_true"`
	NotifiedAt time.Time `json:"notified_at"`
	NotifiedNs int64     `json:"notified_ns,omitempty"`
	NotifiedR  float64   `json:"notified_ratio,omitempty"`
	// ResolveAfterNs is a span-mode incident's resolve.after.
	ResolveAfterNs int64 `json:"resolve_after_ns,omitempty"`
}

// Save writes the durable incidents, with their running figures, when they
// changed since the last Save.
func (t *Tracker) Save(ctx context.Context, client storage.Client) error {
	t.saveMu.Lock()
	defer t.saveMu.Unlock()
	t.mu.Lock()
	if !t.dirty {
		t.mu.Unlock()
		return nil
	}
	rec := savedRecord{Version: formatVersion, Incidents: make([]savedIncident, 0, len(t.durable))}
	for key, d := range t.durable {
		st := *d
		if cur := t.open[key]; cur != nil && cur.inc.ID == d.inc.ID {
			// The running figures, with the notification of the last
			// delivered alert.
			st.inc.Peak, st.inc.SlowCount, st.lastTrue = cur.inc.Peak, cur.inc.SlowCount, cur.lastTrue
		}
		rec.Incidents = append(rec.Incidents, savedIncident{
			Service: key.Service, Method: key.Method, Route: key.Route,
			ID: st.inc.ID, Mode: string(st.inc.Mode), OpenedAt: st.inc.OpenedAt,
			FiredNs: int64(st.inc.Fired.Duration), FiredRatio: st.inc.Fired.Ratio,
			PeakNs: int64(st.inc.Peak.Duration), PeakRatio: st.inc.Peak.Ratio,
			SlowCount: st.inc.SlowCount, LastTrue: st.lastTrue,
			NotifiedAt: st.notifiedAt, NotifiedNs: int64(st.notified.Duration), NotifiedR: st.notified.Ratio,
			ResolveAfterNs: int64(st.resolveAfter),
		})
	}
	t.dirty = false
	t.mu.Unlock()
	data, err := json.Marshal(rec)
	if err == nil {
		err = client.Set(ctx, storageKey, data)
	}
	if err != nil {
		t.mu.Lock()
		t.dirty = true
		t.mu.Unlock()
		return fmt.Errorf("saving open incidents: %w", err)
	}
	return nil
}

// Load reads the incidents a previous run saved: they are open again, and
// resolve (with their ids) when their condition stays false.
func (t *Tracker) Load(ctx context.Context, client storage.Client) error {
	data, err := client.Get(ctx, storageKey)
	if err != nil || data == nil {
		return err
	}
	var rec savedRecord
	if err := json.Unmarshal(data, &rec); err != nil {
		return fmt.Errorf("damaged incidents record (the incidents it held will fire anew): %w", err)
	}
	if rec.Version != formatVersion {
		return fmt.Errorf("incidents record of version %d, this collector reads %d (the incidents it held will fire anew)", rec.Version, formatVersion)
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, s := range rec.Incidents {
		mode := alert.Mode(s.Mode)
		if !mode.Valid() || s.ID == "" || len(s.ID) > 64 {
			continue
		}
		if t.set.MaxOpen > 0 && len(t.open) >= t.set.MaxOpen {
			break
		}
		key := alert.Key{Service: s.Service, Method: s.Method, Route: s.Route}
		t.seq++
		st := &state{
			inc: alert.Incident{
				ID: s.ID, State: alert.IncidentFiring, Mode: mode, OpenedAt: s.OpenedAt.UTC(),
				Fired:     alert.Figure{Duration: time.Duration(s.FiredNs), Ratio: s.FiredRatio},
				Peak:      alert.Figure{Duration: time.Duration(s.PeakNs), Ratio: s.PeakRatio},
				SlowCount: max(s.SlowCount, 0), // as Observe: a count is never negative
			},
			lastTrue:     s.LastTrue,
			notifiedAt:   s.NotifiedAt,
			notified:     alert.Figure{Duration: time.Duration(s.NotifiedNs), Ratio: s.NotifiedR},
			seq:          t.seq,
			resolveAfter: max(time.Duration(s.ResolveAfterNs), 0),
		}
		t.open[key] = st
		cp := *st
		t.durable[key] = &cp
	}
	return nil
}
