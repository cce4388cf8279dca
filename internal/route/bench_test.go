package route

import (
	"strings"
	"testing"
)

func BenchmarkExtract(b *testing.B) {
	// Typical server spans carry more attributes than the ones read here,
	// which makes the lookups realistic.
	common := map[string]any{
		"server.address": "api.example.com", "server.port": int64(443), "network.protocol.version": "1.1",
		"client.address": "10.0.0.1", "user_agent.original": "Mozilla/5.0", "http.response.status_code": int64(200),
		"url.scheme": "https",
	}
	cases := []struct {
		name  string
		attrs map[string]any
	}{
		{"http.route", map[string]any{"http.request.method": "GET", "http.route": "/users/{id}/orders/{order}", "url.path": "/users/42/orders/7f9c2ba4e88f827d616045507605853e"}},
		{"url.full", map[string]any{"http.method": "GET", "url.full": "https://api.example.com:8443/users/42/orders/7f9c2ba4e88f827d616045507605853e?expand=items"}},
		{"url.full_10MB", map[string]any{"http.method": "GET", "url.full": "https://h/users/42" + strings.Repeat("x", 10<<20)}},
	}
	for _, c := range cases {
		for k, v := range common {
			c.attrs[k] = v
		}
		attrs := attrMap(b, c.attrs)
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				Extract(attrs, "GET")
			}
		})
		b.Run(c.name+"/Key", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				Key(attrs, "GET")
			}
		})
	}
}

func BenchmarkNormalize(b *testing.B) {
	for _, p := range []string{"/users/me", "/users/42/orders/7f9c2ba4e88f827d616045507605853e"} {
		b.Run(p, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				Normalize(p)
			}
		})
	}
}
