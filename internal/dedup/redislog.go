package dedup

import (
	"context"
	"fmt"
	"sync"

	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"
)

// go-redis logs pool events through a process-wide logger that writes to
// stderr; route them to the collector's zap logger instead. The first store
// that connects to Redis installs it.
var redisLogger zapRedisLogger

type zapRedisLogger struct {
	once   sync.Once
	mu     sync.Mutex
	logger *zap.Logger
}

func (l *zapRedisLogger) set(logger *zap.Logger) {
	l.mu.Lock()
	l.logger = logger
	l.mu.Unlock()
	l.once.Do(func() { redis.SetLogger(l) })
}

func (l *zapRedisLogger) Printf(_ context.Context, format string, v ...any) {
	l.mu.Lock()
	logger := l.logger
	l.mu.Unlock()
	if logger != nil {
		logger.Debug("redis client", zap.String("message", fmt.Sprintf(format, v...)))
	}
}
