// Command fakemattermost runs slowspan's contract-faithful fake Mattermost
// (internal/mattermostfake) as a small server, to try the mattermost exporter
// without a real server:
//
//	go run ./cmd/fakemattermost -addr 127.0.0.1:8065 -token dev-token -channel <26-char id>
//
// It validates every request against the official OpenAPI subset, logs each
// request and each post with the mentions a real server would fire, and runs
// until interrupted.
package main

import (
	"flag"
	"fmt"
	"log"
	"net"
	"os"
	"os/signal"
	"syscall"

	"github.com/slowspan/slowspan/internal/mattermostfake"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:8065", "listen address (loopback by default)")
	token := flag.String("token", "dev-token", "bot access token the fake accepts")
	channel := flag.String("channel", "", "channel id (26 characters); a new one is made when empty")
	hook := flag.String("webhook", "", "incoming webhook key to accept at /hooks/<key> (optional)")
	flag.Parse()

	l, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatalf("fakemattermost: listen on %s: %v", *addr, err)
	}
	id := *channel
	if id == "" {
		id = mattermostfake.NewID()
	}
	opts := []mattermostfake.Option{
		mattermostfake.WithListener(l),
		mattermostfake.WithToken(*token),
		mattermostfake.WithChannel(mattermostfake.Channel{ID: id, Name: "alerts", DisplayName: "Alerts"}),
	}
	if *hook != "" {
		opts = append(opts, mattermostfake.WithWebhook(mattermostfake.Webhook{Key: *hook, ChannelID: id}))
	}
	s := mattermostfake.New(opts...)
	defer s.Close()
	fmt.Printf("fake Mattermost at %s\n  token:      %s\n  channel_id: %s\n", s.URL(), *token, id)
	if *hook != "" {
		fmt.Printf("  webhook:    %s/hooks/%s\n", s.URL(), *hook)
	}

	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	<-sig
	for _, p := range s.Posts(id) {
		fmt.Printf("post %s (root %q, %d files, mentions fired: %v):\n%s\n\n", p.ID, p.RootID, len(p.FileIDs), p.Mentions.Fired(), p.Message)
	}
	if v := s.Violations(); len(v) > 0 {
		fmt.Printf("contract violations:\n")
		for _, x := range v {
			fmt.Println(" ", x)
		}
	}
}
