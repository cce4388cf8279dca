package mattermostexporter

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/config/configopaque"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/confmap/confmaptest"
	"go.yaml.in/yaml/v3"

	"github.com/slowspan/slowspan/alert/alerttest"
	"github.com/slowspan/slowspan/exporter/mattermostexporter/internal/metadata"
)

func TestCreateDefaultConfig(t *testing.T) {
	cfg := NewFactory().CreateDefaultConfig()
	require.NoError(t, componenttest.CheckConfigStruct(cfg))
	c := cfg.(*Config)
	assert.Equal(t, 16383, c.MaxMessageRunes)
	assert.Equal(t, 30*time.Second, c.Timeout)
	assert.True(t, c.Attach.FlameGraph)
	assert.True(t, c.Attach.Profile)
	assert.True(t, c.QueueConfig.HasValue())
	assert.Equal(t, "mattermost", metadata.Type.String())
	assert.ErrorContains(t, confmap.Validate(cfg), "no mode configured: set endpoint, token and channel_id (API mode, recommended) or webhook_url (webhook mode)")
}

func TestLoadConfig(t *testing.T) {
	cm, err := confmaptest.LoadConf(filepath.Join("testdata", "config.yaml"))
	require.NoError(t, err)
	tests := []struct {
		name    string
		check   func(t *testing.T, c *Config)
		wantErr []string
	}{
		{name: "", check: func(t *testing.T, c *Config) {
			assert.Equal(t, configopaque.String("bot-token-123456"), c.Token)
			assert.Equal(t, DefaultAttributes, c.Attributes)
			assert.Empty(t, c.Channels)
			assert.True(t, c.apiMode())
		}},
		{name: "full", check: func(t *testing.T, c *Config) {
			assert.Equal(t, "file_storage", c.Storage.String())
			assert.Equal(t, 4000, c.MaxMessageRunes)
			assert.Equal(t, AttachConfig{Profile: true}, c.Attach)
			assert.Equal(t, 10*time.Second, c.Timeout)
			assert.Equal(t, "http://proxy.internal:3128", c.ProxyURL)
			assert.Equal(t, "/etc/ssl/mattermost-ca.pem", c.TLS.CAFile)
			assert.Equal(t, "file_storage", c.QueueConfig.Get().StorageID.String())
			assert.Equal(t, time.Minute, c.BackOffConfig.MaxElapsedTime)
			assert.Equal(t, []string{"http.route", "http.response.status_code", "service.version"}, c.Attributes)
			assert.Equal(t, "https://reports.example.com/{{.Name}}.html", c.ReportURL)
			require.Len(t, c.Channels, 2)
			assert.Equal(t, []string{"payments", "billing-*"}, c.Channels[0].Services)
			assert.Equal(t, "adm1n0000pncbef59f4k1qe83o", c.Channels[1].ChannelID)
		}},
		{name: "webhook", check: func(t *testing.T, c *Config) {
			assert.False(t, c.apiMode())
			assert.Equal(t, "town-square", c.Channel)
		}},
		{name: "empty", wantErr: []string{"no mode configured"}},
		{name: "api_missing", wantErr: []string{"API mode needs token (a bot access token), channel_id (the 26-character channel id)"}},
		{name: "both", wantErr: []string{"choose one mode: webhook_url (webhook mode) cannot be combined with channel_id, endpoint, token (API mode)"}},
		{name: "bad_values", wantErr: []string{
			"endpoint: \"https://mattermost.example.com/api/v4\": give the server's base URL, without /api/v4",
			"channel_id: \"town-square\" is not a channel id",
			"username, icon_url and channel apply to webhook mode only",
			"max_message_runes: must be between 1000 and 16383, got 20000",
			"message_template: template: message_template:1: unclosed action",
		}},
		{name: "bad_webhook", wantErr: []string{"webhook_url: must start with https://", "storage: threads need API mode"}},
		{name: "bad_channels", wantErr: []string{
			"channels[1].channel_id: required",
			"channels[1].routes[0]: ",
			"channels[2].channel_id: \"town-square\" must be 26 letters and digits",
			"report_url: template: report_url:1:2: executing \"report_url\" at <.Nope>",
			"attributes[1]: empty attribute name",
		}},
		{name: "webhook_channels", wantErr: []string{"channels: routing needs API mode"}},
		{name: "credentials_in_endpoint", wantErr: []string{"endpoint: must not contain credentials"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id := component.NewIDWithName(metadata.Type, tt.name)
			cfg := NewFactory().CreateDefaultConfig()
			sub, err := cm.Sub(id.String())
			require.NoError(t, err)
			require.NoError(t, sub.Unmarshal(cfg))
			err = confmap.Validate(cfg)
			if len(tt.wantErr) > 0 {
				require.Error(t, err)
				for _, w := range tt.wantErr {
					assert.Contains(t, err.Error(), w)
				}
				assert.NotContains(t, err.Error(), "hunter2", "a config error never shows a secret")
				return
			}
			require.NoError(t, err)
			tt.check(t, cfg.(*Config))
		})
	}
}

// TestSecretsNeverLeak: the token and the webhook key appear in no log line
// or field, no error and no config dump, whatever happens.
func TestSecretsNeverLeak(t *testing.T) {
	secrets := []string{token, hookKey}
	var texts []string
	requireClean := func(what, s string) {
		t.Helper()
		for _, sec := range secrets {
			require.NotContains(t, s, sec, "%s leaks a secret:\n%s", what, s)
		}
		texts = append(texts, s)
	}

	s := newFake(t)
	// API mode: start, post, every error class.
	cfg := apiConfig(s)
	set, l := newSettings("")
	exp, err := NewFactory().CreateTraces(context.Background(), set, cfg)
	require.NoError(t, err)
	require.NoError(t, exp.Start(context.Background(), componenttest.NewNopHost()))
	consume := func() {
		err := exp.ConsumeTraces(context.Background(), alerttest.Traces(t, profiledAlert(len(texts))))
		if err != nil {
			requireClean("error", err.Error())
			requireClean("error %+v", fmt.Sprintf("%+v %#v", err, err))
		}
	}
	consume()
	for _, st := range []int{401, 403, 429, 500, 502} {
		s.FailNext(1, st)
		consume()
	}
	down(t, s)
	consume()
	require.NoError(t, s.Up())
	require.NoError(t, exp.Shutdown(context.Background()))
	requireClean("API logs", l.all())

	// A rejected token at start.
	bad := apiConfig(s)
	bad.Token = configopaque.String(token + "-revoked")
	set, l = newSettings("")
	exp, err = NewFactory().CreateTraces(context.Background(), set, bad)
	require.NoError(t, err)
	err = exp.Start(context.Background(), componenttest.NewNopHost())
	require.Error(t, err)
	requireClean("start error", err.Error())
	require.NoError(t, exp.Shutdown(context.Background()))
	requireClean("start logs", l.all())

	// Webhook mode: the URL is the secret; network errors name URLs.
	hcfg := hookConfig(s)
	set, l = newSettings("")
	exp, err = NewFactory().CreateTraces(context.Background(), set, hcfg)
	require.NoError(t, err)
	require.NoError(t, exp.Start(context.Background(), componenttest.NewNopHost()))
	consume()
	for _, st := range []int{400, 429, 500} {
		s.FailNext(1, st)
		consume()
	}
	down(t, s)
	consume()
	require.NoError(t, s.Up())
	require.NoError(t, exp.Shutdown(context.Background()))
	requireClean("webhook logs", l.all())

	// Config dumps (what `otelcol print-config` and the zpages show).
	for _, c := range []*Config{cfg, hcfg} {
		conf := confmap.New()
		require.NoError(t, conf.Marshal(c))
		out, err := yaml.Marshal(conf.ToStringMap())
		require.NoError(t, err)
		requireClean("config dump", string(out))
		requireClean("config %+v", fmt.Sprintf("%v %+v", c, *c))
		assert.Contains(t, string(out), "[REDACTED]")
	}
	assert.Contains(t, strings.Join(texts, "\n"), "/hooks/[REDACTED]", "network errors name the redacted URL")
}
