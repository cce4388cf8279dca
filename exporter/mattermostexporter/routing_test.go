package mattermostexporter

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/slowspan/slowspan/alert"
	"github.com/slowspan/slowspan/alert/alerttest"
	"github.com/slowspan/slowspan/internal/mattermostfake"
	"github.com/slowspan/slowspan/internal/report"
)

// TestRouting: the first matching rule picks the channel, channel_id takes
// the rest; each channel has its own threads and incident posts, and the
// files go to the channel of their post.
func TestRouting(t *testing.T) {
	payments, admin := channelID(), channelID()
	s := newFake(t,
		mattermostfake.WithChannel(mattermostfake.Channel{ID: payments, Name: "payments"}),
		mattermostfake.WithChannel(mattermostfake.Channel{ID: admin, Name: "admin"}),
	)
	cfg := apiConfig(s)
	cfg.Channels = []ChannelRule{
		{Services: []string{"pay*"}, ChannelID: payments},
		{Routes: []string{"/admin/*"}, ChannelID: admin},
		{Services: []string{"*"}, Routes: []string{"/admin/*"}, ChannelID: payments}, // never reached: the rule before wins
	}
	at := func(a alert.Alert, service, route string) alert.Alert {
		a.Key.Service, a.Key.Route = service, route
		return a
	}
	pay := func(a alert.Alert) alert.Alert { return at(a, "payments", "/charge") }
	adm := func(a alert.Alert) alert.Alert { return at(a, "checkout", "/admin/users") }
	withStorage(t, cfg, t.TempDir(), func(consume func(...alert.Alert) error) {
		require.NoError(t, consume(pay(profiledAlert(0)), adm(numberedAlert(1)), numberedAlert(2)))
		require.NoError(t, consume(pay(followUp(0, 1, alert.ReasonEscalation)), adm(followUp(1, 1, alert.ReasonEscalation)),
			followUp(2, 1, alert.ReasonEscalation)))
		// An incident in a routed channel: one post there, edited.
		opened := alerttest.Start.Add(-10 * time.Minute)
		require.NoError(t, consume(pay(incidentEvent(opened, alert.ReasonQuantile, 0))))
		require.NoError(t, consume(pay(incidentEvent(opened, alert.ReasonResolved, 1))))
	})
	p := s.Posts(payments)
	require.Len(t, p, 4)
	assert.Empty(t, p[0].RootID)
	assert.Equal(t, p[0].ID, p[1].RootID, "the payments thread is in the payments channel")
	assert.NotEmpty(t, p[0].FileIDs, "files uploaded to the post's channel")
	assert.Empty(t, p[2].RootID, "the incident's post")
	assert.Equal(t, 1, p[2].Edits)
	assert.Equal(t, p[2].ID, p[3].RootID)

	a := s.Posts(admin)
	require.Len(t, a, 2)
	assert.Equal(t, a[0].ID, a[1].RootID)

	d := s.Posts(chanID)
	require.Len(t, d, 2)
	assert.Equal(t, d[0].ID, d[1].RootID)
	assert.Empty(t, s.Violations())
}

// TestRouterChannels: channel_id first, then the rules' channels, once each.
func TestRouterChannels(t *testing.T) {
	r, err := newRouter(&Config{ChannelID: "d", Channels: []ChannelRule{{ChannelID: "a"}, {ChannelID: "d"}, {ChannelID: "a"}, {ChannelID: "b"}}})
	require.NoError(t, err)
	assert.Equal(t, []string{"d", "a", "b"}, r.channels())
	assert.Equal(t, "a", r.channel(alert.Key{Service: "x", Route: "/"}), "an empty rule matches everything")
}

// TestReportLink: report_url is rendered with the alert's report name and
// linked next to the trace.
func TestReportLink(t *testing.T) {
	s := newFake(t)
	cfg := apiConfig(s)
	cfg.ReportURL = "https://reports.example.com/{{.Name}}.html"
	exp, _ := start(t, cfg)
	a := numberedAlert(0)
	require.NoError(t, exp.ConsumeTraces(context.Background(), alerttest.Traces(t, a)))
	posts := requireSafePosts(t, s, 1)
	assert.Contains(t, posts[0].Message, "[Open report](https://reports.example.com/"+report.Name(a)+".html)")
}
