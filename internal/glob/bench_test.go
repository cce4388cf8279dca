package glob

import (
	"strings"
	"testing"
)

var benchCases = []struct {
	name, pattern, subject string
}{
	{"exact", "/api/v1/users", "/api/v1/users"},
	{"prefix", "/api/*", "/api/v1/users/42/orders"},
	{"suffix", "*/health", "/internal/v1/health"},
	{"general", "/api/v[0-9]/users/*/orders/?*", "/api/v1/users/42/orders/7"},
	{"general_miss", "/api/v[0-9]/users/*/orders/?*", "/api/v1/users/42/invoices/7"},
	{"pathological", "*a*a*a*a*b", strings.Repeat("a", 1024)},
}

var sink bool

func BenchmarkMatch(b *testing.B) {
	for _, bc := range benchCases {
		p := MustCompile(bc.pattern)
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				sink = p.Match(bc.subject)
			}
		})
	}
}

func BenchmarkSetMatch(b *testing.B) {
	s, err := CompileSet([]string{"/health", "/ready", "/metrics", "*/debug/*", "/static/*"})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		sink = s.Match("/api/v1/users/42") // a miss walks every pattern
	}
}

func TestMatchAllocatesNothing(t *testing.T) {
	cases := [][2]string{{"*[!a-zé]?", "/caf\xffé€"}, {"?*", ""}, {"*", "x"}, {"*/x*", "/a/x/b"}}
	for _, bc := range benchCases {
		cases = append(cases, [2]string{bc.pattern, bc.subject})
	}
	for _, c := range cases {
		p := MustCompile(c[0])
		if n := testing.AllocsPerRun(100, func() { sink = p.Match(c[1]) }); n != 0 {
			t.Errorf("Compile(%q).Match allocates %v times per run, want 0", c[0], n)
		}
	}
	s, err := CompileSet([]string{"/health", "*/debug/*", "/v[12]/*"})
	if err != nil {
		t.Fatal(err)
	}
	if n := testing.AllocsPerRun(100, func() { sink = s.Match("/api/v1/users") }); n != 0 {
		t.Errorf("Set.Match allocates %v times per run, want 0", n)
	}
	var nilSet *Set
	if n := testing.AllocsPerRun(100, func() { sink = nilSet.Match("/x") }); n != 0 {
		t.Errorf("nil Set.Match allocates %v times per run, want 0", n)
	}
}
