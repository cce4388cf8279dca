package mattermostfake

import (
	"net"
	"net/http"
	"testing"
)

func TestWithListenerServesOnTheGivenAddress(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := New(WithListener(l))
	defer s.Close()
	if want := "http://" + l.Addr().String(); s.URL() != want {
		t.Fatalf("URL %s, want %s", s.URL(), want)
	}
	resp, err := http.Get(s.URL() + "/api/v4/system/ping")
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("ping: %s", resp.Status)
	}
	// Down and Up keep the address.
	s.Down()
	if err := s.Up(); err != nil {
		t.Fatal(err)
	}
	resp, err = http.Get(s.URL() + "/api/v4/system/ping")
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
}
