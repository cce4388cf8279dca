// Package replay loads a collector with OTLP traces cheaply: it encodes one
// export request once and sends it again and again at a target rate,
// patching only the trace ids in the encoded bytes so every request carries
// new traces (tail sampling and dedup see fresh work). Generating spans with
// an SDK or telemetrygen costs 10-40 times more CPU per span, which would
// starve the collector under test on a 2-core machine.
package replay

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/slowspan/slowspan/internal/workload"
)

// Config of one load run.
type Config struct {
	Endpoint        string        // host:port of the OTLP receiver
	Protocol        string        // "http" (default) or "grpc"
	Rate            int           // spans per second
	Duration        time.Duration // how long to send
	SpansPerRequest int           // spans per export request (default 500, about an SDK batch)
	Workers         int           // concurrent senders (default 4)
	Routes          int           // distinct routes (default 200)
}

// Stats of a run.
type Stats struct {
	Requests, Spans int64 // accepted by the collector
	Refused         int64 // requests answered with an error
	Late            int64 // requests sent more than one interval behind schedule
	Elapsed         time.Duration
}

func (s Stats) String() string {
	return fmt.Sprintf("%d spans in %d requests (%.0f spans/s), %d refused, %d late",
		s.Spans, s.Requests, float64(s.Spans)/s.Elapsed.Seconds(), s.Refused, s.Late)
}

// Request returns the encoded export request and the offsets of its trace
// ids; slowRouteOffset shifts the routes of its slow spans.
func Request(spans, routes, slowRouteOffset int) ([]byte, []int, error) {
	td := workload.Batch(workload.Options{Spans: spans, Services: min(10, spans), Routes: routes, SlowRouteOffset: slowRouteOffset})
	buf, err := ptraceotlp.NewExportRequestFromTraces(td).MarshalProto()
	if err != nil {
		return nil, nil, err
	}
	var offs []int
	for i := 0; ; {
		j := bytes.Index(buf[i:], workload.TraceIDMagic[:])
		if j < 0 {
			break
		}
		offs = append(offs, i+j)
		i += j + len(workload.TraceIDMagic)
	}
	if len(offs) != spans {
		return nil, nil, fmt.Errorf("found %d trace ids in the encoded request, want %d", len(offs), spans)
	}
	return buf, offs, nil
}

// patch gives the request's traces ids unique to send number seq: the first
// eight bytes of each id become seq, the last eight keep the trace's index.
func patch(buf []byte, offs []int, seq uint64) {
	for _, o := range offs {
		binary.BigEndian.PutUint64(buf[o:o+8], seq)
	}
}

type sender interface {
	send(ctx context.Context, body []byte) error
	close()
}

// Run sends load until cfg.Duration has passed or ctx ends.
func Run(ctx context.Context, cfg Config) (Stats, error) {
	if cfg.SpansPerRequest == 0 {
		cfg.SpansPerRequest = 500
	}
	if cfg.Workers == 0 {
		cfg.Workers = 4
	}
	if cfg.Routes == 0 {
		cfg.Routes = 200
	}
	if cfg.Rate <= 0 || cfg.Duration <= 0 {
		return Stats{}, errors.New("replay: rate and duration must be > 0")
	}
	// A request holds SpansPerRequest/100 slow spans: enough variants, each
	// with its slow spans on the next routes, that the slow spans cover all
	// the routes.
	slowPer := max(1, cfg.SpansPerRequest/100)
	var tmpls [][]byte
	var offsets [][]int
	for off := 0; off < cfg.Routes; off += slowPer {
		b, o, err := Request(cfg.SpansPerRequest, cfg.Routes, off)
		if err != nil {
			return Stats{}, err
		}
		tmpls = append(tmpls, b)
		offsets = append(offsets, o)
	}
	var s sender
	switch cfg.Protocol {
	case "", "http":
		s = newHTTPSender(cfg.Endpoint, cfg.Workers)
	case "grpc":
		g, err := newGRPCSender(cfg.Endpoint)
		if err != nil {
			return Stats{}, err
		}
		s = g
	default:
		return Stats{}, fmt.Errorf("replay: unknown protocol %q", cfg.Protocol)
	}
	defer s.close()

	interval := time.Duration(float64(time.Second) * float64(cfg.SpansPerRequest) / float64(cfg.Rate))
	total := int(cfg.Duration / interval)
	ctx, cancel := context.WithTimeout(ctx, cfg.Duration+30*time.Second) // a stuck collector cannot hang us
	defer cancel()

	var st Stats
	var seq atomic.Uint64
	tickets := make(chan time.Time, total)
	var wg sync.WaitGroup
	for range cfg.Workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			bufs := make([][]byte, len(tmpls)) // each worker patches its own copies
			for i, t := range tmpls {
				bufs[i] = bytes.Clone(t)
			}
			for due := range tickets {
				if time.Since(due) > interval {
					atomic.AddInt64(&st.Late, 1)
				}
				n := seq.Add(1)
				v := int(n % uint64(len(bufs)))
				buf := bufs[v]
				patch(buf, offsets[v], n)
				if err := s.send(ctx, buf); err != nil {
					atomic.AddInt64(&st.Refused, 1)
					continue
				}
				atomic.AddInt64(&st.Requests, 1)
				atomic.AddInt64(&st.Spans, int64(cfg.SpansPerRequest))
			}
		}()
	}
	start := time.Now()
	// The schedule is absolute (start + i*interval), so a late wake-up does
	// not lower the rate.
	timer := time.NewTimer(0)
	defer timer.Stop()
	for i := 0; i < total; i++ {
		due := start.Add(time.Duration(i) * interval)
		if d := time.Until(due); d > 0 {
			timer.Reset(d)
			select {
			case <-timer.C:
			case <-ctx.Done():
				i = total
				continue
			}
		}
		tickets <- due
	}
	close(tickets)
	wg.Wait()
	st.Elapsed = time.Since(start)
	return st, ctx.Err()
}

type httpSender struct {
	url    string
	client *http.Client
}

func newHTTPSender(endpoint string, workers int) *httpSender {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = workers
	return &httpSender{url: "http://" + endpoint + "/v1/traces", client: &http.Client{Transport: tr, Timeout: 10 * time.Second}}
}

func (h *httpSender) send(ctx context.Context, body []byte) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, h.url, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/x-protobuf")
	resp, err := h.client.Do(req)
	if err != nil {
		return err
	}
	_, _ = io.Copy(io.Discard, resp.Body) // drain, so the connection is reused
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s", resp.Status)
	}
	return nil
}

func (h *httpSender) close() { h.client.CloseIdleConnections() }

// rawCodec sends pre-encoded bytes as the gRPC message and ignores the reply,
// so the generator never re-encodes a request.
type rawCodec struct{}

func (rawCodec) Marshal(v any) ([]byte, error) { return *(v.(*[]byte)), nil }
func (rawCodec) Unmarshal(data []byte, v any) error {
	*(v.(*[]byte)) = data
	return nil
}
func (rawCodec) Name() string { return "proto" }

type grpcSender struct{ conn *grpc.ClientConn }

func newGRPCSender(endpoint string) (*grpcSender, error) {
	conn, err := grpc.NewClient(endpoint, grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.ForceCodec(rawCodec{})))
	if err != nil {
		return nil, err
	}
	return &grpcSender{conn: conn}, nil
}

func (g *grpcSender) send(ctx context.Context, body []byte) error {
	var reply []byte
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	return g.conn.Invoke(ctx, "/opentelemetry.proto.collector.trace.v1.TraceService/Export", &body, &reply)
}

func (g *grpcSender) close() { _ = g.conn.Close() }
