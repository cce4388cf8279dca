package markdown

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

// TestTextMattermostSyntax: Text escapes what Mattermost's parser would turn
// into inline LaTeX ("$x$", rendered when EnableInlineLatex is on) or, on a
// line of its own under another, a setext heading ("===").
func TestTextMattermostSyntax(t *testing.T) {
	assert.Equal(t, `\$x^2\$ and \$@`+ZWSP+`channel\$`, Text("$x^2$ and $@channel$", 0))
	assert.Equal(t, `\=\=\=`, Text("===", 0))
}
