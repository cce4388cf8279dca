package mattermostexporter // import "github.com/slowspan/slowspan/exporter/mattermostexporter"

import (
	"errors"
	"net/http"
	"strings"
	"time"

	"go.opentelemetry.io/collector/consumer/consumererror"
	"go.opentelemetry.io/collector/exporter/exporterhelper"
)

// AppError ids the exporter acts on (PROTOCOL.md sections 2, 4 and 7).
const (
	errRootID          = "api.post.create_post.root_id.app_error"
	errChannelRootID   = "api.post.create_post.channel_root_id.app_error"
	errDeletedChannel  = "api.post.create_post.can_not_post_to_deleted.error"
	errMessageLength   = "model.post.is_valid.message_length.app_error"
	errHookInvalid     = "web.incoming_webhook.invalid.app_error"
	errHookChannel     = "web.incoming_webhook.channel.app_error"
	errHookLocked      = "web.incoming_webhook.channel_locked.app_error"
	errHookPermissions = "web.incoming_webhook.permissions.app_error"
	errHookUser        = "web.incoming_webhook.user.app_error"
	errHookDisabled    = "web.incoming_webhook.disabled.app_error"
	errFilesDisabled   = "api.file.attachments.disabled.app_error"
	errEditTimeLimit   = "api.post.update_post.permissions_time_limit.app_error"
)

// kind is what exporterhelper should do with a failed delivery.
type kind int

const (
	retryable kind = iota // 5xx, network errors, timeouts: retry with backoff
	throttled             // 429: retry after Retry-After
	permanent             // other 4xx, 501: drop, the log says what to fix
)

func classify(err error) (kind, time.Duration) {
	var se *statusError
	if !errors.As(err, &se) {
		return retryable, 0
	}
	switch {
	case se.status == http.StatusTooManyRequests:
		return throttled, se.retryAfter
	case se.status == http.StatusNotImplemented:
		return permanent, 0
	case se.status >= 500:
		return retryable, 0
	default:
		return permanent, 0
	}
}

// deliveryError maps a delivery's errors to exporterhelper's policy:
// 429 -> NewThrottleRetry(err, Retry-After), 5xx and network -> plain error
// (retried with backoff), other 4xx -> consumererror.NewPermanent.
func deliveryError(errs []error) error {
	if len(errs) == 0 {
		return nil
	}
	var delay time.Duration
	anyRetry, anyThrottle := false, false
	for _, err := range errs {
		switch k, d := classify(err); k {
		case throttled:
			anyThrottle = true
			delay = max(delay, d)
		case retryable:
			anyRetry = true
		}
	}
	err := errors.Join(errs...)
	switch {
	case anyThrottle:
		return exporterhelper.NewThrottleRetry(err, delay)
	case anyRetry:
		return err
	default:
		return consumererror.NewPermanent(err)
	}
}

// explain adds what to fix to a status error.
func explain(e *statusError, webhook bool) {
	op := e.op
	switch {
	case e.status == http.StatusTooManyRequests:
		e.hint = "rate limited by the server; retrying after Retry-After"
	case e.status == http.StatusUnauthorized:
		e.hint = "the token was rejected: check token (a bot access token, or a personal access token with EnableUserAccessTokens on); it may have been revoked or the bot deactivated"
	case webhook && e.id == errHookInvalid:
		e.hint = "no such incoming webhook: it was deleted or webhook_url is mistyped"
	case webhook && e.id == errHookChannel:
		e.hint = "the channel named in channel does not exist: fix or remove channel"
	case webhook && e.id == errHookLocked:
		e.hint = "the webhook is locked to its own channel: remove channel"
	case webhook && (e.id == errHookPermissions || e.id == errHookUser):
		e.hint = "the webhook's owner cannot post to channel: fix or remove channel"
	case webhook && (e.id == errHookDisabled || e.status == http.StatusNotImplemented):
		e.hint = "incoming webhooks are disabled on the server (System Console > Integrations > Integration Management)"
	case e.status == http.StatusNotFound && webhook:
		e.hint = "not found: check webhook_url"
	case e.id == errDeletedChannel:
		e.hint = "the channel is archived: unarchive it or set another channel_id"
	case e.id == errMessageLength:
		e.hint = "the message is longer than the server's MaxPostSize: lower max_message_runes"
	case e.id == errEditTimeLimit:
		e.hint = "the post is older than the server's PostEditTimeLimit: the alert is posted in its thread instead"
	case e.status == http.StatusForbidden && strings.Contains(op, "/patch"):
		e.hint = "the post cannot be edited (deleted, or the bot lacks edit_post): the alert is posted as a new post instead"
	case e.status == http.StatusForbidden && strings.Contains(op, "/files"):
		e.hint = "uploads refused (file attachments disabled, or no upload_file permission)"
	case e.status == http.StatusForbidden:
		e.hint = "the bot may not post in channel_id: add the bot to the team and the channel (or grant create_post); an unknown channel id also answers 403"
	case e.status == http.StatusRequestEntityTooLarge:
		e.hint = "request too large for the server (MaximumPayloadSizeBytes or FileSettings.MaxFileSize): lower max_message_runes or turn attach options off"
	case e.status == http.StatusNotFound:
		e.hint = "not found: check that endpoint is the server's base URL (e.g. https://mattermost.example.com, without /api/v4)"
	case e.status == http.StatusNotImplemented:
		e.hint = "the server does not offer this feature (licence or setting)"
	case e.status >= 500:
		e.hint = "server error; retrying"
	}
}
