package mattermostexporter // import "github.com/slowspan/slowspan/exporter/mattermostexporter"

import (
	"context"
	"errors"
	"net/http"

	"go.uber.org/zap"

	"github.com/slowspan/slowspan/alert"
	"github.com/slowspan/slowspan/internal/figures"
	"github.com/slowspan/slowspan/internal/markdown"
)

// statusReserve is the room kept for the status line above an incident
// post's body, so editing the status never pushes the post past the limit.
const statusReserve = 400

// deliverIncident keeps one post per incident (API mode with storage): the
// alert that opens it creates the post; its escalations, reminders and
// resolution edit that post in place (status line and latest figures,
// PROTOCOL.md section 12) and reply in its thread, so the people following
// it are notified. When the server refuses the edit, the event still
// reaches the channel: a post older than PostEditTimeLimit (400) gets the
// reply only; a deleted post (403) is replaced by a new incident post.
func (e *mattermostExporter) deliverIncident(ctx context.Context, a alert.Alert, ch string, rec threadRecord) error {
	in := a.Incident
	opens := a.Reason.OpensIncident()
	known := !opens && rec.ChannelID == ch && rec.RootID != "" && rec.IncidentID == in.ID
	state := incidentState(a, rec, known)

	fileIDs, err := e.uploadFiles(ctx, ch, a)
	if err != nil {
		return err
	}
	body := rec.Body
	if !known || !figures.Resolved(a) || body == "" {
		// The latest figures; a resolution (one line) keeps the figures of
		// the incident's last firing alert under its status.
		body = e.sanitize(e.buildSections(a), e.cfg.MaxMessageRunes-statusReserve)
	}
	msg := incidentMessage(a, state, body)
	if !known {
		return e.newIncidentPost(ctx, a, ch, rec, state, body, msg, fileIDs, false)
	}

	edited := false
	if !rec.NoEdit {
		_, err := e.c.patchPost(ctx, rec.RootID, patchPostRequest{Message: &msg})
		var se *statusError
		switch {
		case err == nil:
			edited, rec.Replaced = true, false
		case errors.As(err, &se) && se.status == http.StatusForbidden && rec.Replaced:
			e.logger.Info("The incident's post cannot be edited either (the bot likely lacks edit_post on the channel); the alert is posted in its thread instead, and later alerts of the incident too",
				zap.String("alert_id", a.ID), zap.String("post_id", rec.RootID))
			rec.NoEdit = true
		case errors.As(err, &se) && se.status == http.StatusBadRequest && se.id == errEditTimeLimit:
			e.logger.Info("The incident's post is older than the server's edit time limit (PostEditTimeLimit); the alert is posted in its thread instead, and later alerts of the incident too",
				zap.String("alert_id", a.ID), zap.String("post_id", rec.RootID))
			rec.NoEdit = true
		case errors.As(err, &se) && se.status == http.StatusForbidden:
			e.logger.Info("The incident's post cannot be edited (deleted, or the bot lacks edit_post); the alert is posted as the incident's new post",
				zap.String("alert_id", a.ID), zap.String("post_id", rec.RootID), zap.Error(err))
			return e.newIncidentPost(ctx, a, ch, rec, state, body, msg, fileIDs, true)
		default:
			return err // retried: the edit is idempotent, the reply has its pending_post_id
		}
	}

	p, root, err := e.post(ctx, a, ch, rec.RootID, e.message(a), fileIDs)
	if err != nil {
		return err
	}
	if root == "" {
		// The post went away between the edit and the reply: the reply
		// became a new thread, which the incident follows from now on.
		rec.RootID, rec.NoEdit = p.ID, false
	}
	if edited {
		rec.Body = body
	}
	rec.State = state
	e.save(ctx, a, ch, rec, p.ID)
	return nil
}

// newIncidentPost creates the incident's post and makes it the root of the
// incident's thread.
func (e *mattermostExporter) newIncidentPost(ctx context.Context, a alert.Alert, ch string, rec threadRecord, state, body, msg string, fileIDs []string, replaced bool) error {
	p, _, err := e.post(ctx, a, ch, "", msg, fileIDs)
	if err != nil {
		return err
	}
	rec = threadRecord{ChannelID: ch, RootID: p.ID, IncidentID: a.Incident.ID, State: state, Body: body, Posted: rec.Posted, Replaced: replaced}
	e.save(ctx, a, ch, rec, p.ID)
	return nil
}

// incidentState is the state the incident's post shows after a: resolved
// once resolved; escalated from an escalation on, until resolved (a
// reminder does not undo it); firing otherwise.
func incidentState(a alert.Alert, rec threadRecord, known bool) string {
	switch {
	case figures.Resolved(a):
		return markdown.StateResolved
	case a.Reason == alert.ReasonEscalation:
		return markdown.StateEscalated
	case known && rec.State == markdown.StateEscalated:
		return markdown.StateEscalated
	}
	return markdown.StateFiring
}

// incidentMessage is the incident post: its status line, then body.
func incidentMessage(a alert.Alert, state, body string) string {
	status := markdown.IncidentStatus(a, state)
	if body == "" {
		return status
	}
	return status + "\n\n" + body
}
