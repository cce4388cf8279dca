package engine

import (
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/slowspan/slowspan/alert"
)

func durPtr(d time.Duration) *time.Duration { return &d }

func TestValidateTrigger(t *testing.T) {
	rule := func(tc TriggerConfig) RouteRule {
		return RouteRule{Match: "/api/*", Threshold: time.Second, Trigger: tc}
	}
	tests := []struct {
		name    string
		mutate  func(c *Config)
		wantErr []string // each one error of the joined ones; empty: valid
	}{
		{name: "defaults", mutate: func(*Config) {}},
		{name: "quantile mode", mutate: func(c *Config) { c.Trigger.Mode = ModeQuantile }},
		{name: "ratio mode", mutate: func(c *Config) { c.Trigger.Mode = ModeRatio }},
		{name: "mode unknown", mutate: func(c *Config) { c.Trigger.Mode = "p95" },
			wantErr: []string{`trigger.mode: unknown mode "p95", want span, quantile, ratio or regression`}},
		{name: "mode empty", mutate: func(c *Config) { c.Trigger.Mode = "" },
			wantErr: []string{"trigger.mode: must be set"}},
		// Mode-specific fields are checked in every mode: a rule may switch
		// the mode, and then inherits them.
		{name: "quantile 0", mutate: func(c *Config) { c.Trigger.Quantile = 0 },
			wantErr: []string{"trigger.quantile: must be between 0 and 1 (exclusive), e.g. 0.95, got 0"}},
		{name: "quantile 1", mutate: func(c *Config) { c.Trigger.Quantile = 1 },
			wantErr: []string{"trigger.quantile: must be between 0 and 1 (exclusive), e.g. 0.95, got 1"}},
		{name: "quantile 1.5", mutate: func(c *Config) { c.Trigger.Quantile = 1.5 },
			wantErr: []string{"trigger.quantile: must be between 0 and 1 (exclusive), e.g. 0.95, got 1.5"}},
		{name: "quantile negative", mutate: func(c *Config) { c.Trigger.Quantile = -0.5 },
			wantErr: []string{"trigger.quantile:"}},
		{name: "quantile 0.999", mutate: func(c *Config) { c.Trigger.Quantile = 0.999 }},
		{name: "ratio 0", mutate: func(c *Config) { c.Trigger.Ratio = 0 },
			wantErr: []string{"trigger.ratio: must be in (0, 1], e.g. 0.05 for 5 %, got 0"}},
		{name: "ratio 1.1", mutate: func(c *Config) { c.Trigger.Ratio = 1.1 },
			wantErr: []string{"trigger.ratio: must be in (0, 1], e.g. 0.05 for 5 %, got 1.1"}},
		{name: "ratio 1", mutate: func(c *Config) { c.Trigger.Ratio = 1 }},
		{name: "over 5s", mutate: func(c *Config) { c.Trigger.Over = 5 * time.Second },
			wantErr: []string{"trigger.over: must be between 10s and 24h0m0s, got 5s"}},
		{name: "over 25h", mutate: func(c *Config) { c.Trigger.Over = 25 * time.Hour },
			wantErr: []string{"trigger.over: must be between 10s and 24h0m0s, got 25h0m0s"}},
		{name: "over 0", mutate: func(c *Config) { c.Trigger.Over = 0 },
			wantErr: []string{"trigger.over: must be between 10s and 24h0m0s, got 0s"}},
		{name: "over bounds", mutate: func(c *Config) {
			c.Trigger.Over = 10 * time.Second
			c.Routes = []RouteRule{rule(TriggerConfig{Over: 24 * time.Hour})}
		}},
		{name: "min_count 0", mutate: func(c *Config) { c.Trigger.MinCount = 0 },
			wantErr: []string{"trigger.min_count: must be at least 1, got 0"}},
		{name: "min_count 1", mutate: func(c *Config) { c.Trigger.MinCount = 1 }},
		{name: "resolve.after -1s", mutate: func(c *Config) { c.Resolve.After = durPtr(-time.Second) },
			wantErr: []string{"resolve.after: must be >= 0 (0: never), got -1s"}},
		{name: "resolve.after 0 (never)", mutate: func(c *Config) { c.Resolve.After = durPtr(0) }},
		{name: "resolve.after 1h", mutate: func(c *Config) { c.Resolve.After = durPtr(time.Hour) }},
		{name: "every field wrong", mutate: func(c *Config) {
			c.Trigger = TriggerConfig{Mode: "x", Quantile: 2, Ratio: -1, Over: time.Second, MinCount: -1}
			c.Resolve.After = durPtr(-time.Minute)
		}, wantErr: []string{"trigger.mode:", "trigger.quantile:", "trigger.ratio:", "trigger.over:", "trigger.min_count:", "resolve.after:"}},

		// routes[i].trigger overrides: a zero field inherits the global one.
		{name: "rule with zero trigger", mutate: func(c *Config) { c.Routes = []RouteRule{rule(TriggerConfig{})} }},
		{name: "rule switches mode only", mutate: func(c *Config) {
			c.Routes = []RouteRule{rule(TriggerConfig{Mode: ModeQuantile}), rule(TriggerConfig{Mode: ModeRatio, Ratio: 0.5})}
		}},
		{name: "rule with every field", mutate: func(c *Config) {
			c.Routes = []RouteRule{rule(TriggerConfig{Mode: ModeQuantile, Quantile: 0.99, Ratio: 0.1, Over: time.Minute, MinCount: 5})}
			c.Routes[0].Resolve.After = durPtr(0)
		}},
		{name: "rule mode unknown", mutate: func(c *Config) { c.Routes = []RouteRule{rule(TriggerConfig{Mode: "p99"})} },
			wantErr: []string{`routes[0].trigger.mode: unknown mode "p99"`}},
		{name: "rule quantile 1.5", mutate: func(c *Config) { c.Routes = []RouteRule{rule(TriggerConfig{Quantile: 1.5})} },
			wantErr: []string{"routes[0].trigger.quantile: must be between 0 and 1 (exclusive), e.g. 0.95, got 1.5"}},
		{name: "rule quantile 1", mutate: func(c *Config) { c.Routes = []RouteRule{rule(TriggerConfig{Quantile: 1})} },
			wantErr: []string{"routes[0].trigger.quantile:"}},
		{name: "rule quantile negative", mutate: func(c *Config) { c.Routes = []RouteRule{rule(TriggerConfig{Quantile: -0.1})} },
			wantErr: []string{"routes[0].trigger.quantile:"}},
		{name: "second rule ratio 1.1", mutate: func(c *Config) {
			c.Routes = []RouteRule{rule(TriggerConfig{}), rule(TriggerConfig{Ratio: 1.1})}
		}, wantErr: []string{"routes[1].trigger.ratio: must be in (0, 1], e.g. 0.05 for 5 %, got 1.1"}},
		{name: "rule over 5s", mutate: func(c *Config) { c.Routes = []RouteRule{rule(TriggerConfig{Over: 5 * time.Second})} },
			wantErr: []string{"routes[0].trigger.over: must be between 10s and 24h0m0s, got 5s"}},
		{name: "rule over 25h", mutate: func(c *Config) { c.Routes = []RouteRule{rule(TriggerConfig{Over: 25 * time.Hour})} },
			wantErr: []string{"routes[0].trigger.over:"}},
		{name: "rule min_count negative", mutate: func(c *Config) { c.Routes = []RouteRule{rule(TriggerConfig{MinCount: -1})} },
			wantErr: []string{"routes[0].trigger.min_count: must be at least 1, got -1"}},
		{name: "rule resolve.after -1s", mutate: func(c *Config) {
			c.Routes = []RouteRule{rule(TriggerConfig{})}
			c.Routes[0].Resolve.After = durPtr(-time.Second)
		}, wantErr: []string{"routes[0].resolve.after: must be >= 0 (0: never), got -1s"}},
		{name: "global and rule errors both named", mutate: func(c *Config) {
			c.Trigger.Quantile = 1
			c.Routes = []RouteRule{rule(TriggerConfig{Quantile: 1})}
		}, wantErr: []string{"trigger.quantile:", "routes[0].trigger.quantile:"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := NewDefaultConfig()
			tt.mutate(c)
			err := c.Validate()
			if len(tt.wantErr) == 0 {
				require.NoError(t, err)
				return
			}
			require.Error(t, err)
			var joined interface{ Unwrap() []error }
			require.True(t, errors.As(err, &joined))
			errs := joined.Unwrap()
			require.Len(t, errs, len(tt.wantErr), "%v", err)
			for i, w := range tt.wantErr {
				assert.Contains(t, errs[i].Error(), w)
			}
		})
	}
}

func TestResolveTrigger(t *testing.T) {
	global := TriggerConfig{Mode: ModeQuantile, Quantile: 0.95, Ratio: 0.05, Over: 5 * time.Minute, MinCount: 20}
	spanGlobal := global
	spanGlobal.Mode = ModeSpan
	ratioGlobal := global
	ratioGlobal.Mode = ModeRatio
	tests := []struct {
		name    string
		global  TriggerConfig
		resolve ResolveConfig
		rule    *RouteRule
		want    trigger
	}{
		{name: "quantile: resolve.after defaults to 10m", global: global,
			want: trigger{mode: alert.ModeQuantile, quantile: 0.95, ratio: 0.05, over: 5 * time.Minute, minCount: 20, resolveAfter: 10 * time.Minute}},
		{name: "ratio: resolve.after defaults to 10m", global: ratioGlobal,
			want: trigger{mode: alert.ModeRatio, quantile: 0.95, ratio: 0.05, over: 5 * time.Minute, minCount: 20, resolveAfter: 10 * time.Minute}},
		{name: "span: resolve.after defaults to never", global: spanGlobal,
			want: trigger{mode: alert.ModeSpan, quantile: 0.95, ratio: 0.05, over: 5 * time.Minute, minCount: 20}},
		{name: "explicit 0 is honoured", global: global, resolve: ResolveConfig{After: durPtr(0)},
			want: trigger{mode: alert.ModeQuantile, quantile: 0.95, ratio: 0.05, over: 5 * time.Minute, minCount: 20}},
		{name: "explicit after", global: ratioGlobal, resolve: ResolveConfig{After: durPtr(time.Hour)},
			want: trigger{mode: alert.ModeRatio, quantile: 0.95, ratio: 0.05, over: 5 * time.Minute, minCount: 20, resolveAfter: time.Hour}},
		{name: "explicit after in span mode", global: spanGlobal, resolve: ResolveConfig{After: durPtr(time.Hour)},
			want: trigger{mode: alert.ModeSpan, quantile: 0.95, ratio: 0.05, over: 5 * time.Minute, minCount: 20, resolveAfter: time.Hour}},
		{name: "zero rule inherits everything", global: global, resolve: ResolveConfig{After: durPtr(time.Hour)},
			rule: &RouteRule{Match: "/a", Threshold: time.Second},
			want: trigger{mode: alert.ModeQuantile, quantile: 0.95, ratio: 0.05, over: 5 * time.Minute, minCount: 20, resolveAfter: time.Hour}},
		{name: "rule fields win", global: global,
			rule: &RouteRule{Trigger: TriggerConfig{Mode: ModeRatio, Quantile: 0.99, Ratio: 0.2, Over: time.Minute, MinCount: 5}},
			want: trigger{mode: alert.ModeRatio, quantile: 0.99, ratio: 0.2, over: time.Minute, minCount: 5, resolveAfter: 10 * time.Minute}},
		{name: "rule fields win one by one", global: global,
			rule: &RouteRule{Trigger: TriggerConfig{Over: 30 * time.Second}},
			want: trigger{mode: alert.ModeQuantile, quantile: 0.95, ratio: 0.05, over: 30 * time.Second, minCount: 20, resolveAfter: 10 * time.Minute}},
		{name: "rule switches span to quantile: its default after", global: spanGlobal,
			rule: &RouteRule{Trigger: TriggerConfig{Mode: ModeQuantile}},
			want: trigger{mode: alert.ModeQuantile, quantile: 0.95, ratio: 0.05, over: 5 * time.Minute, minCount: 20, resolveAfter: 10 * time.Minute}},
		{name: "rule switches quantile to span: never", global: global,
			rule: &RouteRule{Trigger: TriggerConfig{Mode: ModeSpan}},
			want: trigger{mode: alert.ModeSpan, quantile: 0.95, ratio: 0.05, over: 5 * time.Minute, minCount: 20}},
		{name: "per-rule resolve wins over global", global: global, resolve: ResolveConfig{After: durPtr(time.Hour)},
			rule: &RouteRule{Resolve: ResolveConfig{After: durPtr(2 * time.Minute)}},
			want: trigger{mode: alert.ModeQuantile, quantile: 0.95, ratio: 0.05, over: 5 * time.Minute, minCount: 20, resolveAfter: 2 * time.Minute}},
		{name: "per-rule resolve 0 is honoured", global: global, resolve: ResolveConfig{After: durPtr(time.Hour)},
			rule: &RouteRule{Resolve: ResolveConfig{After: durPtr(0)}},
			want: trigger{mode: alert.ModeQuantile, quantile: 0.95, ratio: 0.05, over: 5 * time.Minute, minCount: 20}},
		{name: "per-rule resolve in span mode", global: spanGlobal,
			rule: &RouteRule{Resolve: ResolveConfig{After: durPtr(3 * time.Minute)}},
			want: trigger{mode: alert.ModeSpan, quantile: 0.95, ratio: 0.05, over: 5 * time.Minute, minCount: 20, resolveAfter: 3 * time.Minute}},
		{name: "min count at least 1", global: TriggerConfig{Mode: ModeRatio, Ratio: 0.5, Over: time.Minute},
			want: trigger{mode: alert.ModeRatio, ratio: 0.5, over: time.Minute, minCount: 1, resolveAfter: 10 * time.Minute}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := resolveTrigger(tt.global, tt.resolve, tt.rule)
			assert.Equal(t, tt.want, got)
			assert.Equal(t, tt.want.mode != alert.ModeSpan, got.windowed())
		})
	}
}

// The defaults validate and resolve to today's behaviour: span mode, no
// resolution.
func TestDefaultTrigger(t *testing.T) {
	c := NewDefaultConfig()
	require.NoError(t, c.Validate())
	got := resolveTrigger(c.Trigger, c.Resolve, nil)
	assert.Equal(t, alert.ModeSpan, got.mode)
	assert.Zero(t, got.resolveAfter)
	assert.False(t, got.windowed())
}

func TestRegressionConfig(t *testing.T) {
	cfg := windowedConfig(ModeRegression)
	require.NoError(t, cfg.Validate())
	cfg.Trigger.Regression = RegressionConfig{Factor: 0.5, MinDelta: -1, KeepVersions: 1, MaxAge: time.Second}
	err := cfg.Validate()
	require.Error(t, err)
	for _, field := range []string{"trigger.regression.factor", "trigger.regression.min_delta",
		"trigger.regression.version_attribute", "trigger.regression.keep_versions", "trigger.regression.max_age"} {
		assert.Contains(t, err.Error(), field)
	}

	// Per route, zero fields inherit.
	cfg = windowedConfig(ModeSpan)
	cfg.Routes = []RouteRule{{Match: "/checkout", Threshold: time.Second,
		Trigger: TriggerConfig{Mode: ModeRegression, Regression: RegressionConfig{Factor: 2}}}}
	require.NoError(t, cfg.Validate())
	tr := resolveTrigger(cfg.Trigger, cfg.Resolve, &cfg.Routes[0])
	require.NotNil(t, tr.regression)
	assert.Equal(t, 2.0, tr.regression.factor)
	assert.Equal(t, 100*time.Millisecond, tr.regression.minDelta)
	assert.Equal(t, "service.version", tr.regression.attr)
	assert.Equal(t, alert.ModeQuantile, tr.mode)

	// A regression rule under another global mode inherits the global
	// regression settings, which must hold.
	cfg.Trigger.Regression.KeepVersions = 0
	err = cfg.Validate()
	require.Error(t, err)
	assert.Contains(t, err.Error(), "routes[0].trigger.regression.keep_versions")
	assert.NotContains(t, err.Error(), "routes[0].trigger.regression.factor")
	cfg.Trigger.Regression.KeepVersions = 3

	// With fleet-wide windows too.
	cfg = windowedConfig(ModeRegression)
	cfg.Dedup.Redis.Endpoint = "localhost:6379"
	require.NoError(t, cfg.Validate())
	assert.True(t, cfg.fleetEnabled())
}
