package spanprofiler

import (
	"context"
	"crypto/tls"
	"fmt"

	"go.opentelemetry.io/collector/pdata/pprofile"
	"go.opentelemetry.io/collector/pdata/pprofile/pprofileotlp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
)

// grpcExporter sends OTLP profiles to a collector. grpc.NewClient connects lazily, so an absent
// collector costs nothing at Start and only failed (logged) exports later.
type grpcExporter struct {
	conn   *grpc.ClientConn
	client pprofileotlp.GRPCClient
}

func newGRPCExporter(endpoint string, plaintext bool) (*grpcExporter, error) {
	creds := credentials.NewTLS(&tls.Config{MinVersion: tls.VersionTLS12})
	if plaintext {
		creds = insecure.NewCredentials()
	}
	conn, err := grpc.NewClient(endpoint, grpc.WithTransportCredentials(creds))
	if err != nil {
		return nil, fmt.Errorf("spanprofiler: grpc client for %q: %w", endpoint, err)
	}
	return &grpcExporter{conn: conn, client: pprofileotlp.NewGRPCClient(conn)}, nil
}

func (e *grpcExporter) export(ctx context.Context, p pprofile.Profiles) error {
	rsp, err := e.client.Export(ctx, pprofileotlp.NewExportRequestFromProfiles(p))
	if err != nil {
		return err
	}
	// A partial success is the collector refusing data (e.g. profiles not enabled): surface it.
	if ps := rsp.PartialSuccess(); ps.RejectedProfiles() > 0 || ps.ErrorMessage() != "" {
		return fmt.Errorf("collector rejected %d profiles: %s", ps.RejectedProfiles(), ps.ErrorMessage())
	}
	return nil
}

func (e *grpcExporter) close() error { return e.conn.Close() }
