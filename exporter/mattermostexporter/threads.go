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
//
// For an incident, RootID is the incident's post, edited in place as the
// incident moves on: State is the state it shows, Body the message below
// its status line (kept so the resolution can restate it), and NoEdit says
// the server refused to edit it (older than PostEditTimeLimit), so later
// alerts only reply.
type threadRecord struct {
	ChannelID  string `json:"channel_id"`
	RootID     string `json:"root_id"`
	IncidentID string `json:"incident_id,omitempty"`
	State      string `json:"state,omitempty"`
	Body       string `json:"body,omitempty"`
	NoEdit     bool   `json:"no_edit,omitempty"`
	// Replaced is set on a root post made because the previous one could
	// not be edited (403): a 403 on it too means the bot lacks edit_post,
	// not a deleted post, and later alerts reply in its thread.
	Replaced bool          `json:"replaced,omitempty"`
	Posted   []postedAlert `json:"posted,omitempty"`
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
	if a.Reason.OpensIncident() {
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
// "thread/" and the key's hash for channel_id (as before channels existed),
// "thread/<channel id>/" and the key's hash for another channel: threads
// and incidents are per channel.
type threadStore struct {
	client         storage.Client
	defaultChannel string
}

func openThreadStore(ctx context.Context, host component.Host, id component.ID, owner component.ID, defaultChannel string) (*threadStore, error) {
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
	return &threadStore{client: c, defaultChannel: defaultChannel}, nil
}

func (s *threadStore) storageKey(channelID string, k alert.Key) string {
	if channelID == s.defaultChannel {
		return "thread/" + k.Hash()
	}
	return "thread/" + channelID + "/" + k.Hash()
}

func (s *threadStore) get(ctx context.Context, channelID string, k alert.Key) (threadRecord, error) {
	var r threadRecord
	data, err := s.client.Get(ctx, s.storageKey(channelID, k))
	if err != nil || data == nil {
		return r, err
	}
	if err := json.Unmarshal(data, &r); err != nil {
		return threadRecord{}, fmt.Errorf("damaged thread record: %w", err)
	}
	return r, nil
}

func (s *threadStore) put(ctx context.Context, channelID string, k alert.Key, r threadRecord) error {
	data, err := json.Marshal(r)
	if err != nil {
		return err
	}
	return s.client.Set(ctx, s.storageKey(channelID, k), data)
}

func (s *threadStore) close(ctx context.Context) error { return s.client.Close(ctx) }
