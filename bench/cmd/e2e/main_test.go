package main

import (
	"reflect"
	"testing"

	"go.opentelemetry.io/collector/confmap"

	"github.com/slowspan/slowspan/bench/inproc"
)

// TestConfigs renders every setup's collector config and checks that it is
// YAML, and that setup (e) runs the quantile trigger the in-process benchmark
// runs (the YAML is written out by hand in main.go, to read as a user's).
func TestConfigs(t *testing.T) {
	for _, s := range setups() {
		r, err := confmap.NewRetrievedFromYAML([]byte(config(s, 4318, 4317, 8888)))
		if err != nil {
			t.Fatalf("setup %s: %v", s.name, err)
		}
		conf, err := r.AsConf()
		if err != nil {
			t.Fatalf("setup %s: %v", s.name, err)
		}
		if s.name != "e" {
			continue
		}
		sub, err := conf.Sub("connectors::slowspan")
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]any{"trigger": sub.Get("trigger"), "resolve": sub.Get("resolve")}
		if want := inproc.QuantileTrigger(); !reflect.DeepEqual(got, want) {
			t.Fatalf("setup e: quantile config\n got: %#v\nwant: %#v", got, want)
		}
	}
}
