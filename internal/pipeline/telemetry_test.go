package pipeline

import (
	"context"
	"os"
	"path/filepath"
	"sort"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.yaml.in/yaml/v3"
)

// metadataFile is the part of a component's metadata.yaml this test reads.
type metadataFile struct {
	Status struct {
		Class string `yaml:"class"`
	} `yaml:"status"`
	Telemetry struct {
		Metrics map[string]struct {
			Enabled   bool `yaml:"enabled"`
			Stability struct {
				Level string `yaml:"level"`
			} `yaml:"stability"`
			Description string   `yaml:"description"`
			Unit        string   `yaml:"unit"`
			Attributes  []string `yaml:"attributes"`
			Sum         *struct {
				ValueType string `yaml:"value_type"`
				Monotonic bool   `yaml:"monotonic"`
			} `yaml:"sum"`
			Gauge *struct {
				ValueType string `yaml:"value_type"`
			} `yaml:"gauge"`
		} `yaml:"metrics"`
	} `yaml:"telemetry"`
	Attributes map[string]struct {
		NameOverride string   `yaml:"name_override"`
		Type         string   `yaml:"type"`
		Enum         []string `yaml:"enum"`
	} `yaml:"attributes"`
}

// TestMetadataMatchesTheMetrics: mdatagen is not available, so the metrics
// are written once by hand (metricDefs); each component's metadata.yaml
// must declare exactly them, with the same names, descriptions, units,
// types, attributes and stability.
func TestMetadataMatchesTheMetrics(t *testing.T) {
	for _, c := range []struct {
		kind component.Kind
		dir  string
	}{
		{component.KindProcessor, "../../processor/slowspanprocessor"},
		{component.KindConnector, "../../connector/slowspanconnector"},
	} {
		t.Run(c.dir, func(t *testing.T) {
			raw, err := os.ReadFile(filepath.Join(c.dir, "metadata.yaml"))
			require.NoError(t, err)
			var md metadataFile
			require.NoError(t, yaml.Unmarshal(raw, &md))
			assert.Equal(t, kindName(c.kind), md.Status.Class)

			var inYAML, inCode []string
			for name := range md.Telemetry.Metrics {
				inYAML = append(inYAML, "otelcol_"+name)
			}
			for _, def := range metricDefs {
				full := metricName(c.kind, def)
				inCode = append(inCode, full)
				m, ok := md.Telemetry.Metrics[full[len("otelcol_"):]]
				if !assert.True(t, ok, "%s is not in metadata.yaml", full) {
					continue
				}
				assert.True(t, m.Enabled, full)
				assert.Equal(t, stability, m.Stability.Level, full)
				assert.Equal(t, def.description, m.Description, full)
				assert.Equal(t, def.unit, m.Unit, full)
				assert.ElementsMatch(t, def.attributes, m.Attributes, full)
				if def.gauge {
					if assert.NotNil(t, m.Gauge, "%s: a gauge", full) {
						assert.Equal(t, "int", m.Gauge.ValueType, full)
					}
				} else if assert.NotNil(t, m.Sum, "%s: a sum", full) {
					assert.Equal(t, "int", m.Sum.ValueType, full)
					assert.True(t, m.Sum.Monotonic, full)
				}
			}
			for id, want := range attributeDefs {
				a, ok := md.Attributes[id]
				if !assert.True(t, ok, "attribute %s is not in metadata.yaml", id) {
					continue
				}
				name := a.NameOverride
				if name == "" {
					name = id
				}
				assert.Equal(t, want.name, name, "attribute %s", id)
				assert.Equal(t, "string", a.Type, "attribute %s", id)
				assert.Equal(t, want.values(), a.Enum, "attribute %s: its values", id)
			}
			assert.Len(t, md.Attributes, len(attributeDefs), "metadata.yaml declares no other attribute")
			sort.Strings(inYAML)
			sort.Strings(inCode)
			assert.Equal(t, inCode, inYAML, "metadata.yaml and the code declare the same metrics")
		})
	}
}

// TestNewInstruments creates every metric under the component's prefix.
func TestNewInstruments(t *testing.T) {
	tel := componenttest.NewTelemetry()
	t.Cleanup(func() { require.NoError(t, tel.Shutdown(context.Background())) })
	ins, err := NewInstruments(tel.NewTelemetrySettings(), component.KindConnector, "test")
	require.NoError(t, err)
	for _, def := range metricDefs {
		if def.counter != nil {
			assert.NotNil(t, *def.counter(&ins), def.name)
		} else {
			assert.NotNil(t, *def.observable(&ins), def.name)
		}
	}
}
