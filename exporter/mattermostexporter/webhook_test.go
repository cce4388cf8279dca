package mattermostexporter

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/config/configopaque"
	"go.opentelemetry.io/collector/consumer/consumererror"

	"github.com/slowspan/slowspan/alert/alerttest"
	"github.com/slowspan/slowspan/internal/mattermostfake"
)

func TestWebhookPosts(t *testing.T) {
	s := newFake(t, mattermostfake.WithPostOverrides(),
		mattermostfake.WithChannel(mattermostfake.Channel{ID: channelID(), Name: "oncall"}))
	cfg := hookConfig(s)
	cfg.Username = "slowspan"
	cfg.IconURL = "https://example.com/snail.png"
	exp, _ := start(t, cfg)
	require.NoError(t, exp.ConsumeTraces(context.Background(), alerttest.Traces(t, profiledAlert(0))))
	p := requireSafePosts(t, s, 1)[0]
	assert.True(t, p.FromWebhook)
	assert.Contains(t, p.Message, "Slow request `GET /orders/0/{id}` on `checkout`")
	assert.Equal(t, "slowspan", p.Props["override_username"])
	assert.Empty(t, p.FileIDs)
	for _, r := range s.Requests() {
		assert.Empty(t, r.Header.Get("Authorization"))
	}

	cfg.Channel = "oncall"
	exp2, _ := start(t, cfg)
	require.NoError(t, exp2.ConsumeTraces(context.Background(), alerttest.Traces(t, numberedAlert(1))))
	assert.Len(t, s.Posts(""), 2)
}

func TestWebhookErrors(t *testing.T) {
	tests := []struct {
		name      string
		edit      func(*Config)
		opts      []mattermostfake.Option
		fail      int
		permanent bool
		want      string
	}{
		{name: "unknown hook", edit: func(c *Config) { c.WebhookURL = configopaque.String(string(c.WebhookURL) + "x") }, permanent: true, want: "no such incoming webhook"},
		{name: "unknown channel", edit: func(c *Config) { c.Channel = "nope" }, permanent: true, want: "fix or remove channel"},
		{name: "disabled", opts: []mattermostfake.Option{mattermostfake.WithWebhooksDisabled()}, permanent: true, want: "incoming webhooks are disabled"},
		{name: "429", fail: 429, want: "Throttle (1s)"},
		{name: "502", fail: 502, want: "HTTP 502"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newFake(t, tt.opts...)
			cfg := hookConfig(s)
			if tt.edit != nil {
				tt.edit(cfg)
			}
			exp, _ := start(t, cfg)
			if tt.fail != 0 {
				s.FailNext(1, tt.fail)
			}
			err := exp.ConsumeTraces(context.Background(), alerttest.Traces(t, numberedAlert(0)))
			require.Error(t, err)
			assert.Equal(t, tt.permanent, consumererror.IsPermanent(err), "%v", err)
			assert.Contains(t, err.Error(), tt.want)
			assert.NotContains(t, err.Error(), hookKey)
		})
	}
}
