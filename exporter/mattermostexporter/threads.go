package mattermostexporter // import "github.com/slowspan/slowspan/exporter/mattermostexporter"

import (
	"context"
	"encoding/json"
	"fmt"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/extension/xextension/storage"

	"github.com/slowspan/slowspan/alert"
)

// maxPostedPerKey bounds the alert ids remembered per endpoint.
const maxPostedPerKey = 16

// threadRecord is what storage remembers per endpoint (alert.Key): the post
// that started its thread, in which channel, the incident the thread is
// about (empty for a thread of alerts without one; records written before
// incidents existed read that way), and the last alerts posted (so an alert
// redelivered after a restart is not posted twice).
type threadRecord struct {
	ChannelID  string        `json:"channel_id"`
	RootID     string        `json:"root_id"`
	IncidentID string        `json:"incident_id,omitempty"`
	Posted     []postedAlert `json:"posted,omitempty"`
}

type postedAlert struct {
	AlertID string `json:"alert_id"`
	PostID  string `json:"post_id"`
}

// threadRoot is the post a's message replies to, "" for a new thread. An
// alert without an incident keeps the rule from before incidents: a first
// alert starts a thread, any other replies in the key's thread. An incident
// has a thread of its own: the alert that opens it (reason quantile or
// ratio, or any firing alert of an incident the record does not know, e.g.
// a span-mode first alert) starts it, and its escalations, reminders and
// resolution reply in it; such an alert of an incident whose thread is not
// known (its first post was never recorded) starts one.
func (r threadRecord) threadRoot(a alert.Alert, channelID string) string {
	if r.ChannelID != channelID || r.RootID == "" {
		return ""
	}
	in := a.Incident
	if in == nil {
		if a.Reason == alert.ReasonFirst {
			return ""
		}
		return r.RootID
	}
	if in.ID != r.IncidentID {
		return ""
	}
	if a.Reason == alert.ReasonQuantile || a.Reason == alert.ReasonRatio {
		return "" // opens an incident, even one of the same ID (a redelivery)
	}
	return r.RootID
}

func (r threadRecord) posted(alertID string) bool {
	for _, p := range r.Posted {
		if p.AlertID == alertID {
			return true
		}
	}
	return false
}

func (r *threadRecord) remember(alertID, postID string) {
	r.Posted = append(r.Posted, postedAlert{AlertID: alertID, PostID: postID})
	if n := len(r.Posted) - maxPostedPerKey; n > 0 {
		r.Posted = append([]postedAlert(nil), r.Posted[n:]...)
	}
}

// threadStore keeps thread records in a storage extension's client, keyed by
// "thread/" and the key's hash.
type threadStore struct{ client storage.Client }

func openThreadStore(ctx context.Context, host component.Host, id component.ID, owner component.ID) (*threadStore, error) {
	ext, ok := host.GetExtensions()[id]
	if !ok {
		return nil, fmt.Errorf("mattermost: storage: extension %q not found: add it to service.extensions", id)
	}
	se, ok := ext.(storage.Extension)
	if !ok {
		return nil, fmt.Errorf("mattermost: storage: extension %q is not a storage extension (use e.g. file_storage)", id)
	}
	c, err := se.GetClient(ctx, component.KindExporter, owner, "threads")
	if err != nil {
		return nil, fmt.Errorf("mattermost: storage: %w", err)
	}
	return &threadStore{client: c}, nil
}

func storageKey(k alert.Key) string { return "thread/" + k.Hash() }

func (s *threadStore) get(ctx context.Context, k alert.Key) (threadRecord, error) {
	var r threadRecord
	data, err := s.client.Get(ctx, storageKey(k))
	if err != nil || data == nil {
		return r, err
	}
	if err := json.Unmarshal(data, &r); err != nil {
		return threadRecord{}, fmt.Errorf("damaged thread record: %w", err)
	}
	return r, nil
}

func (s *threadStore) put(ctx context.Context, k alert.Key, r threadRecord) error {
	data, err := json.Marshal(r)
	if err != nil {
		return err
	}
	return s.client.Set(ctx, storageKey(k), data)
}

func (s *threadStore) close(ctx context.Context) error { return s.client.Close(ctx) }
