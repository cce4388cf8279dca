package alert

import "time"

// MaxFoldedEndpoints bounds the endpoints a storm summary lists; the rest are
// only counted (Folded.Omitted).
const MaxFoldedEndpoints = 50

// Folded is what a storm summary (ReasonStorm) stands for: the alerts past
// alerts.max_per_minute in one minute, folded into one alert instead of
// being sent one by one.
type Folded struct {
	// Count is the number of alerts folded.
	Count int64
	// Since is the start of the minute the alerts were folded in.
	Since time.Time
	// Endpoints are the folded alerts' keys, most alerts first, at most
	// MaxFoldedEndpoints.
	Endpoints []FoldedEndpoint
	// Omitted is the number of endpoints left out of Endpoints.
	Omitted int
}

// FoldedEndpoint is one endpoint of a storm summary.
type FoldedEndpoint struct {
	Key         Key
	Count       int64
	MaxDuration time.Duration
}

type jsonFolded struct {
	Count     int64                `json:"count"`
	Since     time.Time            `json:"since"`
	Endpoints []jsonFoldedEndpoint `json:"endpoints"`
	Omitted   int                  `json:"omitted,omitempty"`
}

type jsonFoldedEndpoint struct {
	Service       string  `json:"service"`
	Method        string  `json:"method"`
	Route         string  `json:"route"`
	Count         int64   `json:"count"`
	MaxDurationMs float64 `json:"max_duration_ms"`
}

func (f *Folded) toJSON() *jsonFolded {
	if f == nil {
		return nil
	}
	j := &jsonFolded{Count: f.Count, Since: f.Since.UTC(), Omitted: f.Omitted,
		Endpoints: make([]jsonFoldedEndpoint, 0, len(f.Endpoints))}
	for _, e := range f.Endpoints {
		j.Endpoints = append(j.Endpoints, jsonFoldedEndpoint{
			Service: e.Key.Service, Method: e.Key.Method, Route: e.Key.Route,
			Count: e.Count, MaxDurationMs: toMs(e.MaxDuration),
		})
	}
	return j
}

// fromJSON reads a document that may come from anywhere (a span attribute):
// strings are capped and the list bounded like every decoded value.
func (j *jsonFolded) fromJSON() *Folded {
	if j == nil {
		return nil
	}
	f := &Folded{Count: j.Count, Since: j.Since, Omitted: j.Omitted}
	for i, e := range j.Endpoints {
		if i == MaxFoldedEndpoints {
			f.Omitted += len(j.Endpoints) - i
			break
		}
		f.Endpoints = append(f.Endpoints, FoldedEndpoint{
			Key:         Key{Service: stripControl(capString(e.Service)), Method: stripControl(capString(e.Method)), Route: stripControl(capString(e.Route))},
			Count:       e.Count,
			MaxDuration: fromMs(e.MaxDurationMs),
		})
	}
	return f
}
