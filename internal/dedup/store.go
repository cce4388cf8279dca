package dedup

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/config/configopaque"
	"go.opentelemetry.io/collector/config/configtls"
	"go.opentelemetry.io/collector/extension/xextension/storage"
	"go.uber.org/zap"

	"github.com/slowspan/slowspan/alert"
)

// Config controls how often a key may alert, and where the state lives.
type Config struct {
	Window           time.Duration `mapstructure:"window"`
	EscalationFactor float64       `mapstructure:"escalation_factor"`
	MaxKeys          int           `mapstructure:"max_keys"`
	// Storage is a storage extension (e.g. file_storage) that keeps the
	// state across restarts; nil keeps it in memory only.
	Storage *component.ID `mapstructure:"storage"`
	// Redis shares the state across a fleet of collectors; an alternative
	// to Storage.
	Redis RedisConfig `mapstructure:"redis"`
}

// RedisConfig points the dedup state at a Redis server. An empty Endpoint
// turns it off.
type RedisConfig struct {
	Endpoint string              `mapstructure:"endpoint"`
	Username string              `mapstructure:"username"`
	Password configopaque.String `mapstructure:"password"`
	DB       int                 `mapstructure:"db"`
	// TLS is off by default (insecure: true), as Redis usually runs
	// in-cluster without it.
	TLS       configtls.ClientConfig `mapstructure:"tls"`
	KeyPrefix string                 `mapstructure:"key_prefix"`
	// Timeout bounds the one round trip that decides a batch's slow spans
	// (and connecting); past it the local state decides, so a slow Redis
	// never stalls the pipeline.
	Timeout time.Duration `mapstructure:"timeout"`
}

// Enabled reports whether Redis is configured.
func (r *RedisConfig) Enabled() bool { return r.Endpoint != "" }

// Store is the dedup state of one component: a Deduper in this process,
// kept in a storage extension across restarts or shared through Redis
// across a fleet, as its Config says. Until Open it decides in memory.
type Store struct {
	Decider // the local Deduper, or Redis in front of it

	cfg    Config
	local  *Deduper
	logger *zap.Logger
	now    func() time.Time
	redis  *redis.Client

	mu     sync.Mutex // client is set by Open and cleared by Close
	client storage.Client
}

// NewStore returns the in-memory state of cfg; Open connects its backend.
func NewStore(cfg Config, logger *zap.Logger, now func() time.Time) *Store {
	local := New(Settings{Window: cfg.Window, EscalationFactor: cfg.EscalationFactor, MaxKeys: cfg.MaxKeys})
	return &Store{Decider: local, cfg: cfg, local: local, logger: logger, now: now}
}

// Open connects the backend the Config names: Redis, or a storage
// extension of host (whose state it loads). kind and id name the owning
// component in the storage. Without either, the state stays in memory and
// Open says so in the log.
func (s *Store) Open(ctx context.Context, host component.Host, kind component.Kind, id component.ID) error {
	if s.cfg.Redis.Enabled() {
		return s.openRedis(ctx)
	}
	sid := s.cfg.Storage
	if sid == nil {
		s.logger.Warn("dedup state is kept in memory only: after a restart every endpoint alerts again; " +
			"set dedup.storage to a storage extension such as file_storage to keep it")
		return nil
	}
	client, err := StorageClient(ctx, host, *sid, kind, id, "dedup")
	if err != nil {
		return err
	}
	s.mu.Lock()
	s.client = client
	s.mu.Unlock()
	if err := s.local.Load(ctx, client, s.now()); err != nil {
		s.logger.Warn("part of the dedup state could not be read; the keys it held may alert once more", zap.Error(err))
	}
	s.logger.Info("dedup state loaded", zap.String("storage", sid.String()), zap.Int("keys", s.local.Len()))
	return nil
}

// openRedis connects the shared state. An unreachable Redis is not a
// start-up error: the local state decides until it answers.
func (s *Store) openRedis(ctx context.Context) error {
	rc := &s.cfg.Redis
	tlsCfg, err := rc.TLS.LoadTLSConfig(ctx)
	if err != nil {
		return fmt.Errorf("dedup.redis.tls: %w", err)
	}
	redisLogger.set(s.logger)
	s.redis = redis.NewClient(&redis.Options{
		Addr:         rc.Endpoint,
		Username:     rc.Username,
		Password:     string(rc.Password),
		DB:           rc.DB,
		TLSConfig:    tlsCfg,
		DialTimeout:  rc.Timeout,
		ReadTimeout:  rc.Timeout,
		WriteTimeout: rc.Timeout,
		// One attempt per batch: the fallback, not a retry loop, keeps
		// the pipeline moving.
		MaxRetries: -1,
		// The batch's timeout and the request's deadline bound the round
		// trip, not only each socket read.
		ContextTimeoutEnabled: true,
	})
	rd := NewRedis(RedisSettings{
		Client:  s.redis,
		Prefix:  rc.KeyPrefix,
		Timeout: rc.Timeout,
		Local:   s.local,
		Logger:  s.logger,
	})
	s.Decider = rd
	pingCtx, cancel := context.WithTimeout(ctx, rc.Timeout)
	defer cancel()
	if err := s.redis.Ping(pingCtx).Err(); err != nil {
		s.logger.Warn("Redis dedup backend unreachable at start; deciding locally until it answers",
			zap.String("endpoint", rc.Endpoint), zap.Error(err))
		return nil
	}
	if err := rd.LoadScripts(ctx); err != nil {
		// Not fatal: the first batch sends the scripts itself.
		s.logger.Warn("could not preload the dedup scripts into Redis", zap.String("endpoint", rc.Endpoint), zap.Error(err))
	}
	s.logger.Info("dedup state shared through Redis", zap.String("endpoint", rc.Endpoint), zap.String("key_prefix", rc.KeyPrefix))
	return nil
}

// Save writes the changed buckets, if the state is persisted. A failure is
// logged: the state stays in memory and the next Save retries.
func (s *Store) Save(ctx context.Context) {
	s.mu.Lock()
	client := s.client
	s.mu.Unlock()
	if client == nil {
		return
	}
	if err := s.local.Save(ctx, client); err != nil {
		s.logger.Warn("saving dedup state failed; it stays in memory and the next save retries", zap.Error(err))
	}
}

// Close saves the state and releases the storage or Redis.
func (s *Store) Close(ctx context.Context) error {
	var err error
	if s.redis != nil {
		err = s.redis.Close()
		s.redis = nil
	}
	s.mu.Lock()
	client := s.client
	s.client = nil
	s.mu.Unlock()
	if client == nil {
		return err
	}
	return errors.Join(err, s.local.Save(ctx, client), client.Close(ctx))
}

// Forget removes key's state here and, with Redis, in the shared state
// (best effort: a failure leaves the key silenced until its window ends).
func (s *Store) Forget(ctx context.Context, key alert.Key) {
	s.local.Forget(key)
	if rd, ok := s.Decider.(*Redis); ok {
		rd.Forget(ctx, key)
	}
}

// StorageClient opens the client name of the storage extension sid (the
// dedup.storage option) for the component kind/id; its errors name the
// option and the fix.
func StorageClient(ctx context.Context, host component.Host, sid component.ID, kind component.Kind, id component.ID, name string) (storage.Client, error) {
	ext, ok := host.GetExtensions()[sid]
	if !ok {
		return nil, fmt.Errorf("dedup.storage: extension %q not found: declare it under extensions: and list it in service.extensions", sid)
	}
	se, ok := ext.(storage.Extension)
	if !ok {
		return nil, fmt.Errorf("dedup.storage: extension %q is not a storage extension (use file_storage)", sid)
	}
	client, err := se.GetClient(ctx, kind, id, name)
	if err != nil {
		return nil, fmt.Errorf("dedup.storage: opening the %s storage of %q: %w", name, sid, err)
	}
	return client, nil
}
