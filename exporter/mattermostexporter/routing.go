package mattermostexporter // import "github.com/slowspan/slowspan/exporter/mattermostexporter"

import (
	"bytes"
	"fmt"
	"text/template"

	"github.com/slowspan/slowspan/alert"
	"github.com/slowspan/slowspan/internal/glob"
	"github.com/slowspan/slowspan/internal/report"
)

// router picks the channel of an alert: the first rule of channels whose
// services and routes match its endpoint, else channel_id.
type router struct {
	rules []compiledRule
	def   string
}

type compiledRule struct {
	services, routes *glob.Set // nil: any
	channelID        string
}

func newRouter(cfg *Config) (*router, error) {
	r := &router{def: cfg.ChannelID}
	for i, c := range cfg.Channels {
		cr := compiledRule{channelID: c.ChannelID}
		var err error
		if len(c.Services) > 0 {
			if cr.services, err = glob.CompileSet(c.Services); err != nil {
				return nil, fmt.Errorf("mattermost: channels[%d].services: %w", i, err)
			}
		}
		if len(c.Routes) > 0 {
			if cr.routes, err = glob.CompileSet(c.Routes); err != nil {
				return nil, fmt.Errorf("mattermost: channels[%d].routes: %w", i, err)
			}
		}
		r.rules = append(r.rules, cr)
	}
	return r, nil
}

func (r *router) channel(k alert.Key) string {
	for _, c := range r.rules {
		if (c.services == nil || c.services.Match(k.Service)) && (c.routes == nil || c.routes.Match(k.Route)) {
			return c.channelID
		}
	}
	return r.def
}

// channels lists every channel alerts can go to, channel_id first.
func (r *router) channels() []string {
	out := []string{r.def}
	seen := map[string]bool{r.def: true}
	for _, c := range r.rules {
		if !seen[c.channelID] {
			seen[c.channelID] = true
			out = append(out, c.channelID)
		}
	}
	return out
}

// reportData is what report_url is rendered with.
type reportData struct {
	// Name is the base name of the alert's report files (the file
	// exporter's <reports>/<Name>.html).
	Name string
	// Key is the endpoint's hash.
	Key string
}

func parseReportURL(text string) (*template.Template, error) {
	t, err := template.New("report_url").Option("missingkey=error").Parse(text)
	if err != nil {
		return nil, err
	}
	// Render once so a field that does not exist fails validation, not
	// every alert.
	if err := t.Execute(&bytes.Buffer{}, reportData{Name: "n", Key: "k"}); err != nil {
		return nil, fmt.Errorf("%w (fields: .Name, .Key)", err)
	}
	return t, nil
}

// reportLink renders report_url for a; "" without one or when it fails.
func reportLink(t *template.Template, a alert.Alert) string {
	if t == nil {
		return ""
	}
	var b bytes.Buffer
	if err := t.Execute(&b, reportData{Name: report.Name(a), Key: a.Key.Hash()}); err != nil {
		return ""
	}
	return b.String()
}
