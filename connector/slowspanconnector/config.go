package slowspanconnector // import "github.com/slowspan/slowspan/connector/slowspanconnector"

import (
	"go.opentelemetry.io/collector/component"

	"github.com/slowspan/slowspan/internal/engine"
)

// Config is the connector's configuration: the same as the slowspan
// processor's (one implementation, two placements). Every option is described
// in the processor's README; validation lives in internal/engine.
type Config = engine.Config

func createDefaultConfig() component.Config {
	return engine.NewDefaultConfig()
}
