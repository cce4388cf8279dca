package engine

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/maphash"
	"slices"
	"time"

	"go.uber.org/zap"

	"github.com/slowspan/slowspan/alert"
	"github.com/slowspan/slowspan/internal/route"
	"github.com/slowspan/slowspan/internal/window"
)

// windowsKey holds the windows saved at shutdown, in one record: written
// once, read once, in one storage transaction each.
const windowsKey = "windows"

// windowsFormat is the version of the record: uvarint-length-prefixed
// service, method, route and window (window.Window.AppendBinary) per key,
// least recently used first.
const windowsFormat = 1

// saveWindows writes every window the stage holds. Called at shutdown: a
// crash loses them (the incidents themselves are saved as they change).
func (e *Engine) saveWindows(ctx context.Context) error {
	ws := e.windows
	if ws.set == nil {
		return nil
	}
	buf := []byte{windowsFormat}
	var err error
	ws.set.Update(func(u window.Updater[keyID, endpoint]) {
		var ids []keyID
		u.Visit(time.Time{}, func(id keyID, v *endpoint, w *window.Window) bool {
			if v.kept && w.Shaped() && ws.triggers[v.trig].windowed() {
				ids = append(ids, id)
			}
			return true
		})
		slices.Reverse(ids) // least recent first: loading them in order rebuilds the recency
		for _, id := range ids {
			v, w, _ := u.Lookup(id)
			k := v.key
			for _, part := range [...]string{k.Service, k.Method, k.Route} {
				buf = binary.AppendUvarint(buf, uint64(len(part)))
				buf = append(buf, part...)
			}
			var data []byte
			if data, err = w.AppendBinary(nil); err != nil {
				return
			}
			buf = binary.AppendUvarint(buf, uint64(len(data)))
			buf = append(buf, data...)
		}
	})
	if err != nil {
		return fmt.Errorf("encoding the windows: %w", err)
	}
	return e.incidentStore.Set(ctx, windowsKey, buf)
}

// loadWindows reads the windows a previous run saved. A window whose shape
// changed (trigger.over, or its threshold) or that is damaged starts empty.
func (e *Engine) loadWindows(ctx context.Context) error {
	if e.windows.set == nil {
		return nil
	}
	data, err := e.incidentStore.Get(ctx, windowsKey)
	if err != nil || len(data) == 0 {
		return err
	}
	if data[0] != windowsFormat {
		return fmt.Errorf("windows record of format %d, this collector reads %d", data[0], windowsFormat)
	}
	data = data[1:]
	now := e.now()
	var loaded, skipped int
	var errs []error
	next := func() ([]byte, bool) {
		n, k := binary.Uvarint(data)
		if k <= 0 || n > uint64(len(data)-k) {
			return nil, false
		}
		out := data[k : k+int(n)]
		data = data[k+int(n):]
		return out, true
	}
	e.windows.set.Update(func(u window.Updater[keyID, endpoint]) {
		for len(data) > 0 {
			var parts [4][]byte
			for i := range parts {
				p, ok := next()
				if !ok {
					errs = append(errs, errors.New("windows record cut short"))
					return
				}
				parts[i] = p
			}
			key := alert.Key{Service: string(parts[0]), Method: string(parts[1]), Route: string(parts[2])}
			v, w, fresh := u.Entry(e.windows.id(key), now, nil)
			if fresh {
				e.resolveEndpointInfo(v, w, route.Info{Method: key.Method, Route: key.Route})
				v.key = key
			}
			if !v.kept || !e.windows.triggers[v.trig].windowed() {
				skipped++
				continue
			}
			if err := w.UnmarshalBinary(parts[3]); err != nil {
				skipped++
				continue
			}
			loaded++
		}
	})
	if skipped > 0 {
		e.logger.Info("some saved windows did not fit this configuration and start empty", zap.Int("windows", skipped))
	}
	e.logger.Info("windows loaded", zap.Int("windows", loaded))
	return errors.Join(errs...)
}

// versionsKey holds the versions of the endpoints in mode regression (the
// baselines and the windows of their versions), saved at shutdown with the
// windows; JSON, since it is written once and read once.
const versionsKey = "versions"

type savedVersions struct {
	Key      alert.Key
	Current  string
	Known    []knownVersion
	Baseline *versionBaseline `json:",omitempty"`
	// Windows are the known versions' windows (window.Window's binary
	// form), by version.
	Windows map[string][]byte `json:",omitempty"`
}

// saveVersions writes the versions of the regression endpoints.
func (e *Engine) saveVersions(ctx context.Context) error {
	ws := e.windows
	if ws.set == nil {
		return nil
	}
	var out []savedVersions
	var err error
	ws.set.Update(func(u window.Updater[keyID, endpoint]) {
		u.Visit(time.Time{}, func(id keyID, v *endpoint, _ *window.Window) bool {
			vs := v.versions
			if !v.kept || vs == nil || !vs.started {
				return true
			}
			// A copy: batches update known under the lock, and the
			// encoding runs after it (baselines are never changed in
			// place, only replaced).
			s := savedVersions{Key: v.key, Current: vs.current, Known: slices.Clone(vs.known), Baseline: vs.baseline}
			for _, k := range vs.known {
				if _, w, ok := u.Lookup(versionID(id, maphash.String(ws.seed, k.Name))); ok && w.Shaped() {
					var data []byte
					if data, err = w.AppendBinary(nil); err != nil {
						return false
					}
					if s.Windows == nil {
						s.Windows = make(map[string][]byte)
					}
					s.Windows[k.Name] = data
				}
			}
			out = append(out, s)
			return true
		})
	})
	if err != nil {
		return fmt.Errorf("encoding the version windows: %w", err)
	}
	data, err := json.Marshal(out)
	if err != nil {
		return fmt.Errorf("encoding the versions: %w", err)
	}
	return e.incidentStore.Set(ctx, versionsKey, data)
}

// saveChangedVersions writes the versions when an endpoint took a new
// version since the last save (at most every SaveState: a deploy, not
// every span).
func (e *Engine) saveChangedVersions(ctx context.Context) {
	ws := e.windows
	if ws == nil || e.incidentStore == nil || !ws.versionsChanged.Swap(false) {
		return
	}
	if err := e.saveVersions(ctx); err != nil {
		ws.versionsChanged.Store(true)
		e.logger.Warn("saving the versions after a new version failed; the next save retries", zap.Error(err))
	}
}

// loadVersions reads the versions a previous run saved, for the endpoints
// still in mode regression; versions over keep_versions are dropped.
func (e *Engine) loadVersions(ctx context.Context) error {
	ws := e.windows
	if ws.set == nil {
		return nil
	}
	data, err := e.incidentStore.Get(ctx, versionsKey)
	if err != nil || len(data) == 0 {
		return err
	}
	var saved []savedVersions
	if err := json.Unmarshal(data, &saved); err != nil {
		return fmt.Errorf("decoding the versions: %w", err)
	}
	now := e.now()
	loaded := 0
	ws.set.Update(func(u window.Updater[keyID, endpoint]) {
		for _, s := range saved {
			id := ws.id(s.Key)
			v, w, fresh := u.Entry(id, now, nil)
			if fresh {
				e.resolveEndpointInfo(v, w, route.Info{Method: s.Key.Method, Route: s.Key.Route})
				v.key = s.Key
			}
			t := &ws.triggers[v.trig]
			if !v.kept || t.regression == nil {
				continue
			}
			vs := &versions{current: s.Current, started: true, baseline: s.Baseline}
			known := s.Known[max(0, len(s.Known)-t.regression.keepVersions):]
			vs.known = append([]knownVersion(nil), known...)
			if vs.find(s.Current) < 0 {
				continue // damaged: the current version is always known
			}
			v.versions = vs
			for _, k := range vs.known {
				data, ok := s.Windows[k.Name]
				if !ok {
					continue
				}
				_, vw, _ := u.Entry(versionID(id, maphash.String(ws.seed, k.Name)), now, nil)
				vw.Shape(window.Config{Over: t.over, SubWindows: subWindows, Threshold: v.threshold})
				if vw.UnmarshalBinary(data) != nil {
					vw.Clear()
				}
			}
			loaded++
		}
	})
	e.logger.Info("versions loaded", zap.Int("endpoints", loaded))
	return nil
}
