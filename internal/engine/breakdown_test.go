package engine

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/slowspan/slowspan/internal/diagnosis"
)

func TestDescribe(t *testing.T) {
	tests := []struct {
		kind   ptrace.SpanKind
		attrs  map[string]any
		want   string
		class  diagnosis.Class
		system string
	}{
		{ptrace.SpanKindClient, map[string]any{"db.system.name": "postgresql", "db.query.text": "select *\n  from t where a = $1 and b = 'x''y' and c = 3.5"}, "postgresql select * from t where a = $1 and b = ? and c = ?", diagnosis.ClassDB, "postgresql"},
		{ptrace.SpanKindClient, map[string]any{"db.system": "redis", "db.operation": "GET"}, "redis GET", diagnosis.ClassDB, "redis"},
		{ptrace.SpanKindClient, map[string]any{"db.system": "mysql", "db.statement": "SELECT * FROM t WHERE id IN (1, 2,3) AND x IN ( 'a' , 'b' ) AND f(4)"}, "mysql SELECT * FROM t WHERE id IN (?) AND x IN (?) AND f(?)", diagnosis.ClassDB, "mysql"},
		{ptrace.SpanKindClient, map[string]any{"db.system": "mysql", "db.statement": "INSERT INTO t VALUES (1, 'a'), (2, 'b')"}, "mysql INSERT INTO t VALUES (?), (?)", diagnosis.ClassDB, "mysql"},
		{ptrace.SpanKindInternal, map[string]any{"db.system": "mysql", "db.query.summary": "SELECT users"}, "mysql SELECT users", diagnosis.ClassDB, "mysql"},
		{ptrace.SpanKindClient, map[string]any{"http.request.method": "get", "server.address": "api", "url.template": "/v1/{id}"}, "GET api /v1/{id}", diagnosis.ClassRemote, ""},
		{ptrace.SpanKindProducer, map[string]any{"messaging.system": "kafka", "messaging.destination.name": "orders"}, "kafka orders", diagnosis.ClassRemote, ""},
		{ptrace.SpanKindClient, map[string]any{"rpc.system": "grpc", "rpc.service": "Cart", "rpc.method": "Add"}, "grpc Cart/Add", diagnosis.ClassRemote, ""},
		{ptrace.SpanKindInternal, map[string]any{"other": "x"}, "", diagnosis.ClassInternal, ""},
		{ptrace.SpanKindClient, map[string]any{"other": "x"}, "", diagnosis.ClassRemote, ""},
		{ptrace.SpanKindClient, map[string]any{"db.system": "x\xff", "db.statement": strings.Repeat("a", 10000)}, "", diagnosis.ClassDB, "x\uFFFD"},
	}
	for _, tt := range tests {
		m := pcommon.NewMap()
		_ = m.FromRaw(tt.attrs)
		got, class, system := describe(tt.kind, m)
		if tt.want != "" {
			assert.Equal(t, tt.want, got)
		}
		assert.Equal(t, tt.class, class, "%v", tt.attrs)
		assert.Equal(t, tt.system, system, "%v", tt.attrs)
		assert.True(t, utf8.ValidString(got))
		assert.LessOrEqual(t, len(got), maxDescription)
	}
}

func FuzzDescribe(f *testing.F) {
	f.Add("postgresql", "SELECT 'a' FROM t WHERE x = 1", "GET", "http://h/a/1?x")
	f.Add("\xff", "'unterminated", "\x00", "::")
	f.Fuzz(func(t *testing.T, system, query, method, url string) {
		for _, attrs := range []map[string]any{
			{"db.system": system, "db.statement": query},
			{"http.method": method, "url.full": url, "server.address": system},
			{"messaging.system": system, "messaging.destination.name": query},
		} {
			m := pcommon.NewMap()
			_ = m.FromRaw(attrs)
			got, _, system := describe(ptrace.SpanKindClient, m)
			if !utf8.ValidString(system) || len(system) > maxDescription {
				t.Fatalf("describe(%v) system = %q", attrs, system)
			}
			if !utf8.ValidString(got) || len(got) > maxDescription {
				t.Fatalf("describe(%v) = %q", attrs, got)
			}
			if strings.Contains(query, "'secret'") && strings.Contains(got, "secret") && attrs["db.statement"] != nil {
				t.Fatalf("a quoted literal reached the description: %q", got)
			}
		}
	})
}
