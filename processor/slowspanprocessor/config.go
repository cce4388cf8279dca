package slowspanprocessor // import "github.com/slowspan/slowspan/processor/slowspanprocessor"

import (
	"go.opentelemetry.io/collector/component"

	"github.com/slowspan/slowspan/internal/engine"
)

// Config is the processor's configuration. The slowspan connector takes the
// same one: one implementation, two placements. Every option is described in
// README.md; validation lives with the struct in internal/engine.
type Config = engine.Config

// RouteRule sets the threshold of the routes it matches.
type RouteRule = engine.RouteRule

func createDefaultConfig() component.Config {
	return engine.NewDefaultConfig()
}
