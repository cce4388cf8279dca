package mattermostexporter

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain runs the tests, then renders every post they created with
// Mattermost's own Markdown parser (checkRecordedPosts), then looks for
// leaked goroutines.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(postsChecked{m})
}

type postsChecked struct{ m *testing.M }

// Run checks the posts even when a test failed: the parser's findings
// may say why.
func (p postsChecked) Run() int {
	code := p.m.Run()
	if c := checkRecordedPosts(); c != 0 {
		code = c
	}
	return code
}
