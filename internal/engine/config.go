package engine

import (
	"errors"
	"fmt"
	"net"
	"strings"
	"text/template"
	"time"

	"go.opentelemetry.io/collector/config/configtls"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/slowspan/slowspan/internal/dedup"
	"github.com/slowspan/slowspan/internal/glob"
	"github.com/slowspan/slowspan/internal/profileindex"
	"github.com/slowspan/slowspan/internal/route"
)

// Config is the configuration shared by the slowspan processor and connector.
type Config struct {
	// Threshold applies to spans no routes rule matches.
	Threshold time.Duration `mapstructure:"threshold"`
	// SpanKinds are the span kinds examined; others pass untouched.
	SpanKinds []string `mapstructure:"span_kinds"`
	// Routes are per-route thresholds; the first matching rule wins.
	Routes []RouteRule `mapstructure:"routes"`
	// Include keeps only slow spans whose route or path matches one of these
	// globs; empty keeps all.
	Include []string `mapstructure:"include"`
	// Exclude drops slow spans whose route or path matches; it wins over
	// Include.
	Exclude []string `mapstructure:"exclude"`
	// Trigger says what opens an incident: one slow span (mode span, the
	// default) or a window's quantile or share of slow requests.
	Trigger TriggerConfig `mapstructure:"trigger"`
	// Resolve says when an incident closes.
	Resolve     ResolveConfig     `mapstructure:"resolve"`
	Dedup       DedupConfig       `mapstructure:"dedup"`
	Correlation CorrelationConfig `mapstructure:"correlation"`
	Profiles    ProfilesConfig    `mapstructure:"profiles"`
	Alerts      AlertsConfig      `mapstructure:"alerts"`
	Links       LinksConfig       `mapstructure:"links"`
	Redact      RedactConfig      `mapstructure:"redact"`
	// Fleet shares the windows and incidents of the quantile and ratio
	// modes across the collectors that share dedup.redis.
	Fleet FleetConfig `mapstructure:"fleet"`

	// prevent unkeyed literal initialization
	_ struct{}
}

// RouteRule sets the threshold of the routes it matches.
type RouteRule struct {
	// Match is a glob over the route and the raw path.
	Match string `mapstructure:"match"`
	// Methods restricts the rule to these HTTP methods; empty means all.
	Methods   []string      `mapstructure:"methods"`
	Threshold time.Duration `mapstructure:"threshold"`
	// Trigger overrides the global trigger for these routes, field by
	// field: a field left out (zero) keeps the global value.
	Trigger TriggerConfig `mapstructure:"trigger"`
	// Resolve overrides the global resolve.after when set.
	Resolve ResolveConfig `mapstructure:"resolve"`
}

// TriggerConfig is what opens an incident.
type TriggerConfig struct {
	// Mode is span (one slow span alerts, today's behaviour), quantile
	// (the endpoint's Quantile over the window is at or above the
	// threshold) or ratio (at least Ratio of its requests took the
	// threshold or longer).
	Mode string `mapstructure:"mode"`
	// Quantile is the quantile of quantile mode, in (0, 1), e.g. 0.95.
	Quantile float64 `mapstructure:"quantile"`
	// Ratio is the share of slow requests of ratio mode, in (0, 1].
	Ratio float64 `mapstructure:"ratio"`
	// Over is the length of the sliding window.
	Over time.Duration `mapstructure:"over"`
	// MinCount is the fewest requests in the window that may fire.
	MinCount int `mapstructure:"min_count"`
	// Regression configures mode regression: a new service.version of an
	// endpoint whose Quantile is Factor times the previous version's.
	Regression RegressionConfig `mapstructure:"regression"`
}

// RegressionConfig is what makes a new version of an endpoint a
// regression (trigger.mode regression); in a routes rule, zero fields
// inherit.
type RegressionConfig struct {
	// Factor is how many times the previous version's quantile the new
	// version's must reach, e.g. 1.5.
	Factor float64 `mapstructure:"factor"`
	// MinDelta is the least increase of the quantile that fires, e.g.
	// 100ms: a 2 ms endpoint taking 4 ms is no regression.
	MinDelta time.Duration `mapstructure:"min_delta"`
	// VersionAttribute is the resource attribute naming the version.
	VersionAttribute string `mapstructure:"version_attribute"`
	// KeepVersions bounds the versions remembered per endpoint.
	KeepVersions int `mapstructure:"keep_versions"`
	// MaxAge forgets a version not seen for this long.
	MaxAge time.Duration `mapstructure:"max_age"`
}

// ResolveConfig says when an incident closes.
type ResolveConfig struct {
	// After resolves an incident once its condition has been false this
	// long (in span mode: no slow request for that long). Unset: 10m in
	// quantile and ratio modes, never in span mode; 0: never.
	After *time.Duration `mapstructure:"after"`
}

// DedupConfig controls how often a key may alert (package dedup owns it,
// with the wiring of its backends).
type DedupConfig = dedup.Config

// RedisConfig points the dedup state at a Redis server.
type RedisConfig = dedup.RedisConfig

// FleetConfig shares the windows and incidents of the window triggers
// (quantile, ratio) across a fleet of collectors through dedup.redis: each
// collector writes its own counts of each endpoint's window, judges the sum
// of every collector's, and one atomic script per transition lets exactly
// one collector emit each firing, escalation and resolved alert.
type FleetConfig struct {
	// Enabled turns fleet-wide windows on or off. Unset: on when
	// dedup.redis is set and some trigger is quantile or ratio.
	Enabled *bool `mapstructure:"enabled"`
	// CollectorID names this collector in the fleet: unique among the
	// collectors sharing Redis and dedup.redis.key_prefix, and stable
	// across restarts (e.g. the pod name). Unset: the host name and the
	// process id.
	CollectorID string `mapstructure:"collector_id"`
	// FlushInterval is how often the collector writes its windows to
	// Redis, reads the fleet's and judges them.
	FlushInterval time.Duration `mapstructure:"flush_interval"`
}

// Bounds of fleet.flush_interval.
const (
	minFleetFlush = time.Second
	maxFleetFlush = time.Minute
	// maxCollectorID bounds fleet.collector_id, a field of every shared
	// sub-window.
	maxCollectorID = 128
)

// fleetEnabled reports whether the windows are shared (fleet.enabled, or
// its default).
func (c *Config) fleetEnabled() bool {
	if !c.Dedup.Redis.Enabled() {
		return false
	}
	if c.Fleet.Enabled != nil && !*c.Fleet.Enabled {
		return false
	}
	if t := resolveTrigger(c.Trigger, c.Resolve, nil); t.windowed() {
		return true
	}
	for i := range c.Routes {
		if t := resolveTrigger(c.Trigger, c.Resolve, &c.Routes[i]); t.windowed() {
			return true
		}
	}
	return false
}

// CorrelationConfig lets an alert wait for its child spans and profile
// samples.
type CorrelationConfig struct {
	// Wait holds a flagged span this long before it goes out, so that child
	// spans and profile samples arriving in later batches can join it. 0
	// sends it at once, with what its own batch and the profile index hold.
	Wait time.Duration `mapstructure:"wait"`
	// MaxPending bounds the alerts waiting; beyond it an alert goes out at
	// once.
	MaxPending int `mapstructure:"max_pending"`
	// MaxPendingBytes bounds the memory the waiting alerts hold (each keeps
	// a copy of its span, whose attributes an app may make large, and its
	// children's breakdown); beyond it an alert goes out at once, and the
	// oldest waiting alerts leave early.
	MaxPendingBytes int64 `mapstructure:"max_pending_bytes"`
}

// AlertsConfig bounds what the component sends.
type AlertsConfig struct {
	// MaxPerMinute caps the alerts sent per minute; past it they are folded
	// into one summary alert per minute (reason storm) that lists the
	// endpoints and their counts. 0 turns the cap off.
	MaxPerMinute int `mapstructure:"max_per_minute"`
}

// ProfilesConfig bounds the index of span-linked profile samples.
type ProfilesConfig struct {
	MaxSamples int `mapstructure:"max_samples"`
	// MaxBytes bounds the memory of the index, enforced while each message
	// is read: a message that would take more is cut short.
	MaxBytes int64         `mapstructure:"max_bytes"`
	TTL      time.Duration `mapstructure:"ttl"`
}

// LinksConfig holds URL templates rendered into each alert.
type LinksConfig struct {
	// Trace is a Go text/template, e.g.
	// http://localhost:16686/trace/{{.TraceID}}.
	Trace string `mapstructure:"trace"`
	// Profile is a Go text/template for the request's profile, e.g. a
	// Pyroscope query over the span's time range.
	Profile string `mapstructure:"profile"`
}

// RedactConfig lists what never reaches an alert. Query strings are always
// stripped from URL attributes.
type RedactConfig struct {
	// Attributes are span attribute keys removed from alerts
	// (case-insensitive).
	Attributes []string `mapstructure:"attributes"`
}

// DefaultRedactedAttributes are the credentials HTTP instrumentations may
// record when told to capture headers.
var DefaultRedactedAttributes = []string{
	"http.request.header.authorization",
	"http.request.header.proxy-authorization",
	"http.request.header.cookie",
	"http.request.header.x-api-key",
	"http.request.header.x-auth-token",
	"http.response.header.set-cookie",
}

// minProfilesBytes is the smallest profiles.max_bytes: it catches a value
// meant in MiB, which would silently keep (almost) nothing.
const minProfilesBytes = 1 << 20

// maxPendingLimit bounds correlation.max_pending: each waiting alert holds
// a span copy and a breakdown.
const maxPendingLimit = 100000

// NewDefaultConfig returns the documented defaults.
func NewDefaultConfig() *Config {
	return &Config{
		Threshold: time.Second,
		SpanKinds: []string{"server"},
		Dedup: DedupConfig{
			Window:           240 * time.Hour,
			EscalationFactor: 2,
			MaxKeys:          10000,
			Redis: RedisConfig{
				TLS:       configtls.ClientConfig{Insecure: true},
				KeyPrefix: "slowspan:",
				Timeout:   250 * time.Millisecond,
			},
		},
		Correlation: CorrelationConfig{MaxPending: 1000, MaxPendingBytes: 64 << 20},
		Profiles:    ProfilesConfig{MaxSamples: 100000, MaxBytes: profileindex.DefaultMaxBytes, TTL: 2 * time.Minute},
		Alerts:      AlertsConfig{MaxPerMinute: 60},
		Trigger: TriggerConfig{
			Mode:     ModeSpan,
			Quantile: 0.95,
			Ratio:    0.05,
			Over:     5 * time.Minute,
			MinCount: 20,
			Regression: RegressionConfig{
				Factor:           1.5,
				MinDelta:         100 * time.Millisecond,
				VersionAttribute: "service.version",
				KeepVersions:     3,
				MaxAge:           168 * time.Hour,
			},
		},
		Fleet:  FleetConfig{FlushInterval: 5 * time.Second},
		Redact: RedactConfig{Attributes: append([]string(nil), DefaultRedactedAttributes...)},
	}
}

var spanKinds = map[string]ptrace.SpanKind{
	"server":   ptrace.SpanKindServer,
	"client":   ptrace.SpanKindClient,
	"internal": ptrace.SpanKindInternal,
	"producer": ptrace.SpanKindProducer,
	"consumer": ptrace.SpanKindConsumer,
}

func parseSpanKind(s string) (ptrace.SpanKind, bool) {
	s = strings.ToLower(strings.TrimSpace(s))
	s = strings.TrimPrefix(s, "span_kind_")
	k, ok := spanKinds[s]
	return k, ok
}

// Validate checks the configuration; each error names its field.
func (c *Config) Validate() error {
	var errs []error
	if c.Threshold <= 0 {
		errs = append(errs, fmt.Errorf("threshold: must be > 0, got %v", c.Threshold))
	}
	if len(c.SpanKinds) == 0 {
		errs = append(errs, errors.New("span_kinds: must list at least one kind (server, client, internal, producer, consumer)"))
	}
	for i, k := range c.SpanKinds {
		if _, ok := parseSpanKind(k); !ok {
			errs = append(errs, fmt.Errorf("span_kinds[%d]: unknown span kind %q, want one of server, client, internal, producer, consumer", i, k))
		}
	}
	for i, r := range c.Routes {
		if _, err := glob.Compile(r.Match); err != nil {
			errs = append(errs, fmt.Errorf("routes[%d].match: %w", i, err))
		}
		if r.Threshold <= 0 {
			errs = append(errs, fmt.Errorf("routes[%d].threshold: must be > 0, got %v", i, r.Threshold))
		}
		for j, m := range r.Methods {
			// Keys carry the method as route.Method maps it: a method it
			// turns into _OTHER could never match.
			if want := strings.ToUpper(strings.TrimSpace(m)); want == "" || route.Method(want) != want {
				errs = append(errs, fmt.Errorf("routes[%d].methods[%d]: %q is not a standard HTTP method (GET, HEAD, POST, PUT, DELETE, CONNECT, OPTIONS, TRACE, PATCH, QUERY, or _OTHER for the rest)", i, j, m))
			}
		}
	}
	if _, err := glob.CompileSet(c.Include); err != nil {
		errs = append(errs, fmt.Errorf("include: %w", err))
	}
	if _, err := glob.CompileSet(c.Exclude); err != nil {
		errs = append(errs, fmt.Errorf("exclude: %w", err))
	}
	errs = append(errs, c.Trigger.validate("trigger", false)...)
	errs = append(errs, c.Resolve.validate("resolve")...)
	for i, r := range c.Routes {
		errs = append(errs, r.Trigger.validate(fmt.Sprintf("routes[%d].trigger", i), true)...)
		errs = append(errs, r.Resolve.validate(fmt.Sprintf("routes[%d].resolve", i))...)
		if c.Trigger.Mode != ModeRegression && r.Trigger.Mode == ModeRegression {
			// A regression rule under another global mode: the global
			// regression settings it inherits must hold too.
			m := mergeRegression(c.Trigger.Regression, r.Trigger.Regression)
			errs = append(errs, m.validate(fmt.Sprintf("routes[%d].trigger.regression", i), false)...)
		}
	}
	if c.Dedup.Window <= 0 {
		errs = append(errs, fmt.Errorf("dedup.window: must be > 0, got %v", c.Dedup.Window))
	}
	if f := c.Dedup.EscalationFactor; f != 0 && !(f > 1) {
		errs = append(errs, fmt.Errorf("dedup.escalation_factor: must be 0 (off) or > 1, got %v", f))
	}
	if c.Dedup.MaxKeys <= 0 {
		errs = append(errs, fmt.Errorf("dedup.max_keys: must be > 0, got %d", c.Dedup.MaxKeys))
	}
	if r := &c.Dedup.Redis; !r.Enabled() && (r.Username != "" || r.Password != "" || r.DB != 0) {
		errs = append(errs, errors.New("dedup.redis.endpoint: required when other dedup.redis options are set"))
	}
	if r := &c.Dedup.Redis; r.Enabled() {
		if c.Dedup.Storage != nil {
			errs = append(errs, errors.New("dedup.redis and dedup.storage: set one of them, not both (redis shares the state across collectors, storage keeps it on this one)"))
		}
		if _, _, err := net.SplitHostPort(r.Endpoint); err != nil {
			errs = append(errs, fmt.Errorf("dedup.redis.endpoint: want host:port, got %q: %w", r.Endpoint, err))
		}
		if r.DB < 0 {
			errs = append(errs, fmt.Errorf("dedup.redis.db: must be >= 0, got %d", r.DB))
		}
		if r.Timeout <= 0 {
			errs = append(errs, fmt.Errorf("dedup.redis.timeout: must be > 0, got %v", r.Timeout))
		}
		if r.KeyPrefix == "" {
			errs = append(errs, errors.New("dedup.redis.key_prefix: must not be empty (it keeps slowspan keys apart from others in the database)"))
		}
	}
	errs = append(errs, c.Fleet.validate(c)...)
	if c.Correlation.Wait < 0 {
		errs = append(errs, fmt.Errorf("correlation.wait: must be >= 0, got %v", c.Correlation.Wait))
	}
	if c.Correlation.MaxPending <= 0 || c.Correlation.MaxPending > maxPendingLimit {
		errs = append(errs, fmt.Errorf("correlation.max_pending: must be between 1 and %d, got %d", maxPendingLimit, c.Correlation.MaxPending))
	}
	if c.Alerts.MaxPerMinute < 0 {
		errs = append(errs, fmt.Errorf("alerts.max_per_minute: must be >= 0 (0 turns the cap off), got %d", c.Alerts.MaxPerMinute))
	}
	if c.Correlation.MaxPendingBytes <= 0 {
		errs = append(errs, fmt.Errorf("correlation.max_pending_bytes: must be > 0, got %d", c.Correlation.MaxPendingBytes))
	}
	if c.Profiles.MaxSamples <= 0 {
		errs = append(errs, fmt.Errorf("profiles.max_samples: must be > 0, got %d", c.Profiles.MaxSamples))
	}
	if c.Profiles.MaxBytes < minProfilesBytes {
		errs = append(errs, fmt.Errorf("profiles.max_bytes: must be at least %d (1 MiB), got %d", minProfilesBytes, c.Profiles.MaxBytes))
	}
	if c.Profiles.TTL <= 0 {
		errs = append(errs, fmt.Errorf("profiles.ttl: must be > 0, got %v", c.Profiles.TTL))
	}
	if c.Links.Trace != "" {
		if _, err := parseLinkTemplate("links.trace", c.Links.Trace); err != nil {
			errs = append(errs, err)
		}
	}
	if c.Links.Profile != "" {
		if _, err := parseLinkTemplate("links.profile", c.Links.Profile); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func (f *FleetConfig) validate(c *Config) []error {
	var errs []error
	if f.Enabled != nil && *f.Enabled && !c.Dedup.Redis.Enabled() {
		errs = append(errs, errors.New("fleet.enabled: fleet-wide windows share them through Redis: set dedup.redis.endpoint, or leave fleet.enabled unset"))
	}
	if f.FlushInterval < minFleetFlush || f.FlushInterval > maxFleetFlush {
		errs = append(errs, fmt.Errorf("fleet.flush_interval: must be between %v and %v, got %v", minFleetFlush, maxFleetFlush, f.FlushInterval))
	}
	if id := f.CollectorID; len(id) > maxCollectorID || strings.ContainsFunc(id, func(r rune) bool { return r <= ' ' || r == 0x7f }) {
		errs = append(errs, fmt.Errorf("fleet.collector_id: at most %d bytes without spaces or control characters, got %q", maxCollectorID, id))
	}
	return errs
}

// linkData is what link templates see.
type linkData struct {
	TraceID        string
	SpanID         string
	Service        string
	Method         string
	Route          string
	Start          time.Time
	End            time.Time
	StartUnixMilli int64
	EndUnixMilli   int64
	// ProfileID is the span's pyroscope.profile.id attribute, set by
	// otel-profiling-go, for Pyroscope and Grafana span profiles.
	ProfileID string
}

func parseLinkTemplate(field, text string) (*template.Template, error) {
	t, err := template.New(field).Option("missingkey=error").Parse(text)
	if err != nil {
		return nil, fmt.Errorf("%s: invalid template: %w", field, err)
	}
	// Execute once against sample data, so a reference to an unknown field
	// fails at start-up rather than on the first alert.
	var b strings.Builder
	if err := t.Execute(&b, linkData{}); err != nil {
		return nil, fmt.Errorf("%s: template does not render (fields: .TraceID .SpanID .Service .Method .Route .Start .End .StartUnixMilli .EndUnixMilli .ProfileID): %w", field, err)
	}
	return t, nil
}
