package mattermostexporter // import "github.com/slowspan/slowspan/exporter/mattermostexporter"

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"
	"unicode/utf8"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/config/confighttp"
	"go.opentelemetry.io/collector/config/configopaque"
	"go.opentelemetry.io/collector/config/configoptional"
	"go.opentelemetry.io/collector/config/configretry"
	"go.opentelemetry.io/collector/exporter/exporterhelper"

	"github.com/slowspan/slowspan/internal/glob"
	"github.com/slowspan/slowspan/internal/markdown"
)

// Config is the mattermost exporter's configuration. Every option is
// described in README.md. Exactly one mode is configured: API (endpoint,
// token, channel_id) or webhook (webhook_url).
type Config struct {
	// ClientConfig is confighttp's client: endpoint (the server's base URL
	// in API mode), tls, proxy_url, headers, ... Its timeout bounds a whole
	// delivery of a batch (exporterhelper's timeout: uploads and posts
	// together), not each request.
	confighttp.ClientConfig `mapstructure:",squash"`

	// Token is a bot (or personal) access token. API mode.
	Token configopaque.String `mapstructure:"token"`
	// ChannelID is the 26-character id of the channel to post to. API mode.
	ChannelID string `mapstructure:"channel_id"`

	// WebhookURL is an incoming webhook URL (the URL is the secret).
	// Webhook mode.
	WebhookURL configopaque.String `mapstructure:"webhook_url"`
	// Username, IconURL and Channel override the webhook's defaults (the
	// server applies username and icon only when post overrides are on).
	Username string `mapstructure:"username"`
	IconURL  string `mapstructure:"icon_url"`
	Channel  string `mapstructure:"channel"`

	// MessageTemplate replaces the default layout: Go text/template over
	// alert.Alert with the helpers of internal/markdown.
	MessageTemplate string `mapstructure:"message_template"`
	// MaxMessageRunes is the server's MaxPostSize (16383 on a standard
	// schema; 4000 on very old ones).
	MaxMessageRunes int `mapstructure:"max_message_runes"`

	// Attach selects the files uploaded with an alert (API mode).
	Attach AttachConfig `mapstructure:"attach"`

	// Attributes lists the attributes a post shows, in this order; the
	// resource's count too (service.version, deployment.environment.name
	// are resource attributes). Empty shows none. Request attributes can
	// carry personal data: an allowlist keeps the channel to what helps.
	Attributes []string `mapstructure:"attributes"`
	// ReportURL is a Go text/template for a link to the alert's report as
	// written by the file exporter's reports directory, served by some web
	// server; .Name is the report's base name (report.Name), .Key the
	// endpoint's hash. Empty: no link.
	ReportURL string `mapstructure:"report_url"`

	// Channels route alerts to other channels than ChannelID: the first
	// rule whose services and routes both match the alert's endpoint wins;
	// ChannelID takes the rest. API mode.
	Channels []ChannelRule `mapstructure:"channels"`

	// Storage is a storage extension (e.g. file_storage) that remembers, per
	// channel and endpoint, the post that started its thread (an incident's
	// post, edited in place), and the alerts already posted. Without it
	// follow-ups are new posts. API mode.
	Storage *component.ID `mapstructure:"storage"`

	BackOffConfig configretry.BackOffConfig                                `mapstructure:"retry_on_failure"`
	QueueConfig   configoptional.Optional[exporterhelper.QueueBatchConfig] `mapstructure:"sending_queue"`

	_ struct{}
}

// ChannelRule sends the alerts of some endpoints to a channel. An empty
// list matches everything; globs as in the processor's include/exclude
// (internal/glob: '*' crosses '/').
type ChannelRule struct {
	// Services are globs over service.name.
	Services []string `mapstructure:"services"`
	// Routes are globs over the endpoint's route (http.route, or the path
	// when there is none).
	Routes []string `mapstructure:"routes"`
	// ChannelID is the 26-character id of the channel.
	ChannelID string `mapstructure:"channel_id"`

	_ struct{}
}

// DefaultAttributes is the default of attributes: where the request went,
// how it ended, and which build and environment served it.
var DefaultAttributes = []string{"http.route", "url.path", "http.response.status_code", "service.version", "deployment.environment.name"}

// AttachConfig selects attachments.
type AttachConfig struct {
	// FlameGraph uploads the flame graph of the request's profile as a PNG.
	FlameGraph bool `mapstructure:"flame_graph"`
	// Profile uploads the profile as <name>.pb.gz (go tool pprof).
	Profile bool `mapstructure:"profile"`

	_ struct{}
}

const (
	minMessageRunes = 1000
	defaultTimeout  = 30 * time.Second
)

func createDefaultConfig() *Config {
	client := confighttp.NewDefaultClientConfig()
	client.Timeout = defaultTimeout
	return &Config{
		ClientConfig:    client,
		MaxMessageRunes: markdown.MaxRunes,
		Attach:          AttachConfig{FlameGraph: true, Profile: true},
		Attributes:      append([]string(nil), DefaultAttributes...),
		BackOffConfig:   retryForever(),
		QueueConfig:     configoptional.Some(exporterhelper.NewDefaultQueueConfig()),
	}
}

func (c *Config) apiMode() bool { return c.WebhookURL == "" }

// Validate checks the options this exporter owns and says which are missing
// for the mode that was started.
func (c *Config) Validate() error {
	api := c.Endpoint != "" || c.Token != "" || c.ChannelID != ""
	hook := c.WebhookURL != ""
	var errs []error
	switch {
	case api && hook:
		var set []string
		for name, v := range map[string]bool{"endpoint": c.Endpoint != "", "token": c.Token != "", "channel_id": c.ChannelID != ""} {
			if v {
				set = append(set, name)
			}
		}
		errs = append(errs, fmt.Errorf("choose one mode: webhook_url (webhook mode) cannot be combined with %s (API mode)", strings.Join(sortStrings(set), ", ")))
	case hook:
		if err := checkURL(string(c.WebhookURL)); err != nil {
			errs = append(errs, fmt.Errorf("webhook_url: %w (the URL itself is not shown: it is a secret)", err))
		} else if u, _ := url.Parse(string(c.WebhookURL)); !strings.Contains(u.Path, "/hooks/") {
			errs = append(errs, errors.New("webhook_url: expected an incoming webhook URL such as https://mattermost.example.com/hooks/<key>"))
		}
		if c.Storage != nil {
			errs = append(errs, errors.New("storage: threads need API mode (endpoint, token, channel_id); remove it in webhook mode"))
		}
		if len(c.Channels) > 0 {
			errs = append(errs, errors.New("channels: routing needs API mode (endpoint, token, channel_id); with a webhook use channel, or one exporter per webhook"))
		}
	case api:
		var missing []string
		if c.Endpoint == "" {
			missing = append(missing, "endpoint (the server's base URL, e.g. https://mattermost.example.com)")
		}
		if c.Token == "" {
			missing = append(missing, "token (a bot access token)")
		}
		if c.ChannelID == "" {
			missing = append(missing, "channel_id (the 26-character channel id)")
		}
		if len(missing) > 0 {
			errs = append(errs, fmt.Errorf("API mode needs %s", strings.Join(missing, ", ")))
		}
		if c.Endpoint != "" {
			if err := checkURL(c.Endpoint); err != nil {
				errs = append(errs, fmt.Errorf("endpoint: %w", err))
			} else if strings.Contains(c.Endpoint, "/api/v4") || strings.Contains(c.Endpoint, "/hooks/") {
				errs = append(errs, fmt.Errorf("endpoint: %q: give the server's base URL, without /api/v4 (or use webhook_url for a /hooks/ URL)", c.Endpoint))
			}
		}
		if c.ChannelID != "" && !isValidID(c.ChannelID) {
			errs = append(errs, fmt.Errorf("channel_id: %q is not a channel id (26 letters and digits; in Mattermost: channel menu > View Info)", c.ChannelID))
		}
		errs = append(errs, c.validateChannels()...)
		if c.Username != "" || c.IconURL != "" || c.Channel != "" {
			errs = append(errs, errors.New("username, icon_url and channel apply to webhook mode only: remove them (the bot's own name and icon are used)"))
		}
	default:
		errs = append(errs, errors.New("no mode configured: set endpoint, token and channel_id (API mode, recommended) or webhook_url (webhook mode)"))
	}
	if c.MaxMessageRunes < minMessageRunes || c.MaxMessageRunes > markdown.MaxRunes {
		errs = append(errs, fmt.Errorf("max_message_runes: must be between %d and %d, got %d", minMessageRunes, markdown.MaxRunes, c.MaxMessageRunes))
	}
	if c.MessageTemplate != "" {
		if _, err := markdown.NewTemplate(c.MessageTemplate, hook); err != nil {
			errs = append(errs, fmt.Errorf("message_template: %w", err))
		}
	}
	if c.ReportURL != "" {
		if _, err := parseReportURL(c.ReportURL); err != nil {
			errs = append(errs, fmt.Errorf("report_url: %w", err))
		}
	}
	for i, a := range c.Attributes {
		if strings.TrimSpace(a) == "" {
			errs = append(errs, fmt.Errorf("attributes[%d]: empty attribute name", i))
		}
	}
	if c.Timeout <= 0 {
		errs = append(errs, fmt.Errorf("timeout: must be > 0, got %s", c.Timeout))
	}
	return errors.Join(errs...)
}

func (c *Config) validateChannels() []error {
	var errs []error
	for i, r := range c.Channels {
		field := fmt.Sprintf("channels[%d]", i)
		switch {
		case r.ChannelID == "":
			errs = append(errs, fmt.Errorf("%s.channel_id: required (the 26-character channel id; in Mattermost: channel menu > View Info)", field))
		case !isValidID(r.ChannelID):
			errs = append(errs, fmt.Errorf("%s.channel_id: %q must be 26 letters and digits (in Mattermost: channel menu > View Info)", field, r.ChannelID))
		}
		for j, g := range r.Services {
			if _, err := glob.Compile(g); err != nil {
				errs = append(errs, fmt.Errorf("%s.services[%d]: %w", field, j, err))
			}
		}
		for j, g := range r.Routes {
			if _, err := glob.Compile(g); err != nil {
				errs = append(errs, fmt.Errorf("%s.routes[%d]: %w", field, j, err))
			}
		}
	}
	return errs
}

func checkURL(s string) error {
	u, err := url.Parse(s)
	if err != nil {
		return errors.New("not a valid URL")
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return errors.New("must start with https:// (or http://)")
	}
	if u.Host == "" {
		return errors.New("has no host")
	}
	if u.User != nil {
		// Would be logged with every request error: credentials belong in
		// token (a bot token), never in the URL.
		return errors.New("must not contain credentials (user:password@); put the bot token in token")
	}
	return nil
}

// isValidID mirrors model.IsValidId: 26 letters or digits.
func isValidID(s string) bool {
	if utf8.RuneCountInString(s) != 26 {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9') {
			return false
		}
	}
	return true
}

func sortStrings(s []string) []string {
	for i := 1; i < len(s); i++ {
		for j := i; j > 0 && s[j] < s[j-1]; j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
	return s
}

// retryForever is exporterhelper's default backoff without its 5-minute
// budget: past the budget exporterhelper drops the batch, even from a
// persistent queue, and an alert must wait out an outage instead.
func retryForever() configretry.BackOffConfig {
	c := configretry.NewDefaultBackOffConfig()
	c.MaxElapsedTime = 0
	return c
}
