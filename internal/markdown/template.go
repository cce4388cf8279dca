package markdown

import (
	"bytes"
	"fmt"
	"strings"
	"text/template"

	"github.com/slowspan/slowspan/alert"
)

// Template is a user's message template: Go text/template over alert.Alert,
// with escaping helpers. text/template escapes nothing by itself, so values
// from the alert must go through code, text or link to be safe:
//
//	{{code .Key.Route}}           inline code span (inert), cut to 512 runes
//	{{text .Key.Service}}         plain text with "@" and Markdown neutralised
//	{{link "trace" .Links.Trace}} a link, http(s) only, destination encoded
//	{{duration .Duration}}        "2.40 s"
//	{{percent .Self}}             "42%"
//	{{truncate 40 .SpanName}}     cut to 40 runes (then pass it to code/text)
//	{{default .}}                 the default layout
//
// In webhook mode every value is also passed through Webhook first.
type Template struct {
	t       *template.Template
	webhook bool
}

// NewTemplate parses text. webhook selects the neutralisation of Slack
// markup in the helpers.
func NewTemplate(text string, webhook bool) (*Template, error) {
	r := renderer{webhook: webhook}
	funcs := template.FuncMap{
		"code":     func(v any) string { return r.code(str(v), maxRoute) },
		"text":     func(v any) string { return r.text(str(v), maxRoute) },
		"link":     func(label string, u any) string { return r.link(label, str(u)) },
		"duration": Duration,
		"percent":  percent,
		"truncate": func(n int, v any) string { return Truncate(str(v), n) },
		"default": func(a alert.Alert) string {
			return Fit(AlertSections(a, Options{Webhook: webhook}), MaxRunes)
		},
	}
	t, err := template.New("message_template").Option("missingkey=zero").Funcs(funcs).Parse(text)
	if err != nil {
		return nil, err
	}
	return &Template{t: t, webhook: webhook}, nil
}

func str(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case fmt.Stringer:
		return x.String()
	case nil:
		return ""
	default:
		return fmt.Sprint(x)
	}
}

// Execute renders a and splits the output into sections for Fit. An empty
// output is an error: Mattermost needs a message.
func (t *Template) Execute(a alert.Alert) ([]Section, error) {
	var b bytes.Buffer
	if err := t.t.Execute(&b, a); err != nil {
		return nil, err
	}
	out := b.String()
	if t.webhook {
		out = Webhook(out)
	}
	if strings.TrimSpace(out) == "" {
		return nil, fmt.Errorf("message_template produced an empty message")
	}
	return SplitSections(out), nil
}
