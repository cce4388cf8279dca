// Written by hand in the shape mdatagen generates (mdatagen is not available
// to this project); keep it in step with metadata.yaml.

package metadata

import (
	"go.opentelemetry.io/collector/component"
)

var (
	Type      = component.MustNewType("mattermost")
	ScopeName = "github.com/slowspan/slowspan/exporter/mattermostexporter"
)

const (
	TracesStability = component.StabilityLevelAlpha
)
