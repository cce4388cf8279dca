package mattermostexporter // import "github.com/slowspan/slowspan/exporter/mattermostexporter"

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"sync"
	"text/template"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/exporter"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.uber.org/zap"

	"github.com/slowspan/slowspan/alert"
	"github.com/slowspan/slowspan/internal/figures"
	"github.com/slowspan/slowspan/internal/flamegraph"
	"github.com/slowspan/slowspan/internal/idset"
	"github.com/slowspan/slowspan/internal/markdown"
	"github.com/slowspan/slowspan/internal/report"
)

const (
	// maxRememberedIDs bounds the in-memory set of alerts already posted.
	maxRememberedIDs = 10000
	// uploadsRetryAfter is how long uploads stay off after a refusal.
	uploadsRetryAfter = time.Hour
	// flameGraphDepth keeps the PNG small enough for a chat preview.
	flameGraphDepth = 64
)

type mattermostExporter struct {
	cfg    *Config
	set    exporter.Settings
	logger *zap.Logger
	now    func() time.Time

	// mu serialises deliveries: the queue runs several consumers, and the
	// thread of a key must be known before its follow-up is posted.
	mu        sync.Mutex
	c         *client
	tpl       *markdown.Template
	reportTpl *template.Template // nil without report_url
	router    *router
	threads   *threadStore // nil without storage
	sent      *idset.Set

	uploadsOffUntil time.Time
	uploadsLogged   bool
}

func newMattermostExporter(cfg *Config, set exporter.Settings) *mattermostExporter {
	return &mattermostExporter{
		cfg:    cfg,
		set:    set,
		logger: set.Logger,
		now:    time.Now,
		sent:   idset.New(maxRememberedIDs),
	}
}

func (e *mattermostExporter) start(ctx context.Context, host component.Host) error {
	hc, err := e.cfg.ClientConfig.ToClient(ctx, host.GetExtensions(), e.set.TelemetrySettings)
	if err != nil {
		return fmt.Errorf("mattermost: HTTP client: %w", err)
	}
	// exporterhelper's timeout bounds a whole delivery through the context.
	hc.Timeout = 0
	e.c = &client{http: hc}
	webhook := !e.cfg.apiMode()
	if webhook {
		e.c.hookURL = string(e.cfg.WebhookURL)
	} else {
		e.c.base = strings.TrimRight(e.cfg.Endpoint, "/")
		e.c.token = string(e.cfg.Token)
	}
	if e.cfg.MessageTemplate != "" {
		if e.tpl, err = markdown.NewTemplate(e.cfg.MessageTemplate, webhook); err != nil {
			return fmt.Errorf("mattermost: message_template: %w", err)
		}
	}
	if e.cfg.ReportURL != "" {
		if e.reportTpl, err = parseReportURL(e.cfg.ReportURL); err != nil {
			return fmt.Errorf("mattermost: report_url: %w", err)
		}
	}
	if e.router, err = newRouter(e.cfg); err != nil {
		return err
	}
	if e.cfg.Storage != nil {
		if e.threads, err = openThreadStore(ctx, host, *e.cfg.Storage, e.set.ID, e.cfg.ChannelID); err != nil {
			return err
		}
	}
	if webhook {
		e.logger.Info("Posting alerts to a Mattermost incoming webhook", zap.String("webhook", redactedHookURL(e.c.hookURL)))
		return nil
	}
	return e.checkAPI(ctx)
}

// checkAPI verifies the token and the channel (PROTOCOL.md section 3). A
// rejected token or a missing, unreadable or archived channel fails the
// start; an unreachable or failing server is only a warning: the queue holds
// alerts until it is back.
func (e *mattermostExporter) checkAPI(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, e.cfg.Timeout)
	defer cancel()
	unreachable := func(err error) error {
		e.logger.Warn("Mattermost is not reachable at start; alerts are queued and retried until it is",
			zap.String("endpoint", e.c.base), zap.Error(err))
		return nil
	}
	me, err := e.c.me(ctx)
	if err != nil {
		if k, _ := classify(err); k != permanent {
			return unreachable(err)
		}
		e.annotate(err)
		return fmt.Errorf("mattermost: checking token: %w", err)
	}
	var names []string
	for i, id := range e.router.channels() {
		field := "channel_id"
		if i > 0 {
			field = "channels[].channel_id"
		}
		ch, err := e.c.channel(ctx, id)
		if err != nil {
			var se *statusError
			if errors.As(err, &se) {
				switch se.status {
				case 404:
					se.hint = field + " does not exist on this server: copy it from the channel menu > View Info"
				case 403:
					se.hint = "the bot cannot read " + field + ": add the bot to the channel's team and to the channel (private channels need membership)"
				default:
					e.annotate(err)
				}
			}
			if k, _ := classify(err); k != permanent {
				return unreachable(err)
			}
			return fmt.Errorf("mattermost: checking %s %s: %w", field, id, err)
		}
		if ch.DeleteAt != 0 {
			return fmt.Errorf("mattermost: %s %s (%s) is archived: unarchive it or set another %s", field, id, oneLine(ch.Name), field)
		}
		names = append(names, oneLine(ch.Name))
	}
	if !me.IsBot {
		e.logger.Info("The token is not a bot's: a bot account is recommended (its tokens do not depend on EnableUserAccessTokens)",
			zap.String("user", oneLine(me.Username)))
	}
	e.logger.Info("Posting alerts to Mattermost", zap.String("endpoint", e.c.base),
		zap.String("user", oneLine(me.Username)), zap.Strings("channels", names),
		zap.Bool("threads", e.threads != nil))
	return nil
}

func (e *mattermostExporter) annotate(err error) {
	var se *statusError
	if errors.As(err, &se) && se.hint == "" {
		explain(se, !e.cfg.apiMode())
	}
}

func (e *mattermostExporter) shutdown(ctx context.Context) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	var err error
	if e.threads != nil {
		err = e.threads.close(ctx)
		e.threads = nil
	}
	if e.c != nil {
		e.c.http.CloseIdleConnections()
	}
	return err
}

// pushTraces posts every alert in td not posted before. Errors are mapped to
// exporterhelper's policy by deliveryError; alerts already posted are
// remembered (in memory, and in storage when set), so the retry of a batch
// that failed part way posts only what is missing.
func (e *mattermostExporter) pushTraces(ctx context.Context, td ptrace.Traces) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	var errs []error
	posted := 0
	for a := range alert.All(td) {
		if e.sent.Has(a.ID) {
			continue
		}
		if err := ctx.Err(); err != nil {
			errs = append(errs, err)
			break
		}
		var err error
		if e.cfg.apiMode() {
			err = e.deliverAPI(ctx, a)
		} else {
			err = e.deliverWebhook(ctx, a)
		}
		if err != nil {
			e.annotate(err)
			errs = append(errs, fmt.Errorf("alert %s (%s): %w", a.ID, a.Key.Hash(), err))
			continue
		}
		e.sent.Add(a.ID)
		posted++
	}
	if posted > 0 {
		e.logger.Debug("Posted alerts to Mattermost", zap.Int("alerts", posted))
	}
	return deliveryError(errs)
}

// Step 1: build. The message (default layout or message_template) as
// sections, and the files to attach (Mattermost lists them under the post,
// so the message does not).

func (e *mattermostExporter) buildSections(a alert.Alert) []markdown.Section {
	webhook := !e.cfg.apiMode()
	if e.tpl != nil {
		secs, err := e.tpl.Execute(a)
		if err == nil {
			return secs
		}
		e.logger.Warn("message_template failed; the default layout is used for this alert", zap.String("alert_id", a.ID), zap.Error(err))
	}
	attrs := e.cfg.Attributes
	if attrs == nil {
		attrs = []string{} // "attributes: []" shows none, not all
	}
	return markdown.AlertSections(a, markdown.Options{Webhook: webhook, Attributes: attrs, ReportURL: reportLink(e.reportTpl, a)})
}

func (e *mattermostExporter) buildFiles(a alert.Alert) []upload {
	if (a.Profile == nil && a.Regression == nil) || figures.Resolved(a) {
		// A resolved alert is one line about an incident already posted
		// with its files.
		return nil
	}
	name := report.Name(a)
	var files []upload
	if e.cfg.Attach.FlameGraph && a.Profile != nil && len(a.Profile.Stacks) > 0 {
		var buf bytes.Buffer
		if err := flamegraph.Build(a.Profile.Stacks, flamegraph.Options{MaxDepth: flameGraphDepth}).WritePNG(&buf); err == nil {
			files = append(files, upload{name: name + ".png", contentType: "image/png", data: buf.Bytes()})
		} else {
			e.logger.Warn("Rendering the flame graph failed; posting without it", zap.String("alert_id", a.ID), zap.Error(err))
		}
	}
	if r := a.Regression; e.cfg.Attach.FlameGraph && r != nil && len(r.After.Stacks) > 0 {
		// The differential flame graph of a regression: what grew (red)
		// and shrank (blue) in the new version's CPU profile. The PNG's
		// font is ASCII: "->", not an arrow.
		title := "CPU change " + figures.Version(r.Before.Version) + " -> " + figures.Version(r.After.Version)
		var buf bytes.Buffer
		g := flamegraph.BuildDiff(r.Before.Stacks, r.After.Stacks, flamegraph.Options{MaxDepth: flameGraphDepth, Title: title})
		if err := g.WritePNG(&buf); err == nil {
			files = append(files, upload{name: name + ".diff.png", contentType: "image/png", data: buf.Bytes()})
		} else {
			e.logger.Warn("Rendering the differential flame graph failed; posting without it", zap.String("alert_id", a.ID), zap.Error(err))
		}
	}
	if e.cfg.Attach.Profile && a.Profile != nil {
		data, warn := report.Pprof(a)
		if warn != nil {
			e.logger.Debug("Profile bytes not used as is", zap.String("alert_id", a.ID), zap.Error(warn))
		}
		if len(data) > 0 {
			files = append(files, upload{name: name + ".pb.gz", contentType: "application/gzip", data: data})
		}
	}
	return files
}

// Step 2: sanitise. Valid UTF-8, Slack markup neutralised for webhooks, and
// fitted to max runes by whole sections.
func (e *mattermostExporter) sanitize(secs []markdown.Section, max int) string {
	webhook := !e.cfg.apiMode()
	for i := range secs {
		t := strings.ToValidUTF8(secs[i].Text, "\uFFFD")
		t = strings.ReplaceAll(t, "\x00", "")
		if webhook {
			t = markdown.Webhook(t)
		}
		secs[i].Text = t
	}
	return markdown.Fit(secs, max)
}

// message is an alert's own post.
func (e *mattermostExporter) message(a alert.Alert) string {
	return e.sanitize(e.buildSections(a), e.cfg.MaxMessageRunes)
}

// Step 3: send.

func (e *mattermostExporter) deliverWebhook(ctx context.Context, a alert.Alert) error {
	return e.c.postWebhook(ctx, webhookRequest{
		Text:     e.message(a),
		Username: e.cfg.Username,
		IconURL:  e.cfg.IconURL,
		Channel:  e.cfg.Channel,
	})
}

func (e *mattermostExporter) deliverAPI(ctx context.Context, a alert.Alert) error {
	ch := e.router.channel(a.Key)
	var rec threadRecord
	if e.threads != nil {
		var err error
		if rec, err = e.threads.get(ctx, ch, a.Key); err != nil {
			e.logger.Warn("Reading the thread of the endpoint from storage failed; posting as a new thread", zap.Error(err))
			rec = threadRecord{}
		}
		if rec.posted(a.ID) {
			e.logger.Debug("Alert already posted (remembered in storage)", zap.String("alert_id", a.ID))
			return nil
		}
		if a.Incident != nil {
			return e.deliverIncident(ctx, a, ch, rec)
		}
	}
	root := rec.threadRoot(a, ch)
	fileIDs, err := e.uploadFiles(ctx, ch, a)
	if err != nil {
		return err
	}
	p, root, err := e.post(ctx, a, ch, root, e.message(a), fileIDs)
	if err != nil {
		return err
	}
	if e.threads != nil {
		if root == "" {
			rec = threadRecord{ChannelID: ch, RootID: p.ID, Posted: rec.Posted}
		}
		e.save(ctx, a, ch, rec, p.ID)
	}
	return nil
}

// post creates a post in ch, a reply when root is set. A reply whose root
// is gone (deleted) is posted as a new thread: the root it went under is
// returned ("" for a new thread).
func (e *mattermostExporter) post(ctx context.Context, a alert.Alert, ch, root, msg string, fileIDs []string) (post, string, error) {
	req := createPostRequest{
		ChannelID:     ch,
		Message:       msg,
		RootID:        root,
		FileIDs:       fileIDs,
		PendingPostID: pendingPostID(ch, root, a.ID),
	}
	p, err := e.c.createPost(ctx, req)
	if root != "" && rootGone(err) {
		e.logger.Info("The thread's first post is gone (deleted); posting the alert as a new thread",
			zap.String("alert_id", a.ID), zap.String("root_id", root))
		req.RootID = ""
		req.PendingPostID = pendingPostID(ch, "", a.ID)
		p, err = e.c.createPost(ctx, req)
	}
	return p, req.RootID, err
}

// save remembers a as posted (postID) in rec and writes rec.
func (e *mattermostExporter) save(ctx context.Context, a alert.Alert, ch string, rec threadRecord, postID string) {
	rec.remember(a.ID, postID)
	if err := e.threads.put(ctx, ch, a.Key, rec); err != nil {
		e.logger.Warn("Remembering the thread in storage failed; the next alert of this endpoint may start a new thread",
			zap.String("alert_id", a.ID), zap.Error(err))
	}
}

// uploadFiles attaches the flame graph and the profile. When the server
// refuses uploads (403, 501) the alert is posted without files, logged once,
// and uploads stay off for an hour; a 413 (these files too large) only
// posts this alert without them. Other failures fail the delivery
// (retried).
func (e *mattermostExporter) uploadFiles(ctx context.Context, ch string, a alert.Alert) ([]string, error) {
	if e.now().Before(e.uploadsOffUntil) {
		return nil, nil
	}
	files := e.buildFiles(a)
	if len(files) == 0 {
		return nil, nil
	}
	ids, err := e.c.uploadFiles(ctx, ch, files)
	if err != nil {
		var se *statusError
		if errors.As(err, &se) && se.status == 413 {
			e.logger.Warn("Mattermost refused this alert's files as too large (FileSettings.MaxFileSize); the alert is posted without them",
				zap.String("alert_id", a.ID), zap.Error(err))
			return nil, nil
		}
		if errors.As(err, &se) && (se.status == 403 || se.status == 501) {
			e.uploadsOffUntil = e.now().Add(uploadsRetryAfter)
			if !e.uploadsLogged {
				e.uploadsLogged = true
				e.annotate(err)
				e.logger.Warn("Mattermost refused the upload of the flame graph and profile; alerts are posted without files. "+
					"Allow file attachments (FileSettings.EnableFileAttachments) and upload_file for the bot, or set attach.flame_graph and attach.profile to false",
					zap.Error(err))
			}
			return nil, nil
		}
		return nil, err
	}
	return ids, nil
}

func rootGone(err error) bool {
	var se *statusError
	return errors.As(err, &se) && se.status == 400 && (se.id == errRootID || se.id == errChannelRootID)
}

// pendingPostID derives the post's pending_post_id from the alert ID (and
// the channel and thread, so the same alert in another place is another
// post): the same alert always gets the same value, so a retry after a lost
// answer returns the post already created (PROTOCOL.md section 5). The
// format, "slowspan:" and 32 hex digits, is of the length and alphabet of
// the web app's own "<user id>:<timestamp>".
func pendingPostID(channelID, rootID, alertID string) string {
	h := sha256.New()
	h.Write([]byte(channelID))
	h.Write([]byte{0})
	h.Write([]byte(rootID))
	h.Write([]byte{0})
	h.Write([]byte(alertID))
	return "slowspan:" + hex.EncodeToString(h.Sum(nil)[:16])
}
