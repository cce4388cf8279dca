package fleet

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"
)

// Settings are common to Windows and Incidents.
type Settings struct {
	// Client talks to Redis. It must honour context deadlines
	// (redis.Options.ContextTimeoutEnabled), so that Timeout bounds a call
	// as a whole; MaxRetries -1 is advised (the caller falls back, it does
	// not retry). The dedup store's client fits.
	Client *redis.Client
	// Prefix starts every key written, e.g. "prod:slowspan:", as
	// dedup.redis.key_prefix.
	Prefix string
	// Timeout bounds each call's one round trip (default 1 s); past it the
	// call returns an error and the caller uses its local state.
	Timeout time.Duration
	Logger  *zap.Logger
}

// DefaultTimeout is the Timeout of Settings that leave it zero.
const DefaultTimeout = time.Second

// conn is what Windows and Incidents share: the client and the way they
// call it.
type conn struct {
	client  *redis.Client
	addr    string
	prefix  string
	timeout time.Duration
	logger  *zap.Logger
}

func newConn(s Settings) (conn, error) {
	if s.Client == nil {
		return conn{}, errors.New("fleet: no Redis client")
	}
	opts := s.Client.Options()
	if !opts.ContextTimeoutEnabled {
		return conn{}, errors.New("fleet: the Redis client must honour context deadlines, or a slow Redis holds the caller past the timeout: set redis.Options.ContextTimeoutEnabled")
	}
	c := conn{client: s.Client, addr: opts.Addr, prefix: s.Prefix, timeout: s.Timeout, logger: s.Logger}
	if c.timeout <= 0 {
		c.timeout = DefaultTimeout
	}
	if c.logger == nil {
		c.logger = zap.NewNop()
	}
	return c, nil
}

// callCtx bounds one round trip by the timeout (and the caller's context).
func (c *conn) callCtx(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, c.timeout)
}

// fail wraps err from Redis with what failed and how to fix it. It names
// the server's address, never the client's credentials.
func (c *conn) fail(ctx context.Context, what string, err error) error {
	var hint string
	var netErr net.Error
	switch {
	case errors.Is(err, context.Canceled) && ctx.Err() != nil:
		hint = "the caller gave up"
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &netErr) && netErr.Timeout():
		hint = fmt.Sprintf("Redis at %s did not answer within %v: check that it runs and is reachable at that address, and its load, or raise the timeout", c.addr, c.timeout)
	case errors.As(err, &netErr), errors.Is(err, redis.ErrClosed):
		hint = fmt.Sprintf("Redis at %s is unreachable: check that it runs and that the endpoint is right", c.addr)
	default:
		hint = fmt.Sprintf("Redis at %s refused the command: check its version (6.2 or later), memory limit and ACL for the key prefix %q", c.addr, c.prefix)
	}
	return fmt.Errorf("fleet: %s: %w (%s)", what, err, hint)
}

// KeyHash is the part of the Redis keys that names an endpoint: 16 hex
// digits of the SHA-256 of key, the caller's fleet-wide name of the
// endpoint (e.g. alert.Key.Hash(), or service, method and route joined).
// Hashed, so that keys of any content and length make short keys of one
// shape.
func KeyHash(key string) string {
	sum := sha256.Sum256([]byte(key))
	return hex.EncodeToString(sum[:8])
}
