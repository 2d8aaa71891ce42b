package queue

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/heraldhq/herald/dispatcher"
)

// DefaultNamespace prefixes herald's queue names unless WithNamespace says
// otherwise, so that herald's queues do not collide with another asynq
// application's "email" queue on a shared Redis.
const DefaultNamespace = "herald:"

// ErrRedisTooOld is returned by Connect for a Redis older than 6.2, whose
// Lua lacks the ZRANGE … BYSCORE that asynq's scripts use: tasks would fail
// at the first retry, not at start, so Connect refuses early.
var ErrRedisTooOld = errors.New("redis 6.2 or newer is required")

// Channels lists the channels herald queues work for, one queue each, in
// the order Depth reports them.
func Channels() []dispatcher.ChannelKind {
	return []dispatcher.ChannelKind{dispatcher.Email, dispatcher.SMS, dispatcher.File}
}

// namespaceRE keeps namespaces to characters that are safe inside asynq's
// {queue} hash tag and in Redis key patterns.
var namespaceRE = regexp.MustCompile(`^[A-Za-z0-9_.:-]{0,40}$`)

// Option configures Connect.
type Option func(*options)

type options struct {
	namespace string
	logger    *slog.Logger
	poolSize  int
}

// WithNamespace sets the prefix of herald's queue names (default
// DefaultNamespace). Installations or tests that share one Redis give each a
// different namespace so they never see each other's queues. Letters,
// digits and _ . : - only, at most 40; "" gives bare channel names.
func WithNamespace(prefix string) Option { return func(o *options) { o.namespace = prefix } }

// WithLogger sets the logger for connection-level messages (nil discards).
func WithLogger(l *slog.Logger) Option { return func(o *options) { o.logger = l } }

// WithPoolSize sets the Redis connection pool size of single-server and
// Sentinel connections. The default is the larger of 32 and 10 per CPU, so
// that Client's default enqueue fan-out never waits for a connection.
func WithPoolSize(n int) Option { return func(o *options) { o.poolSize = n } }

// Backend is a connection to the Redis that carries herald's queues: the
// asynq connection options for clients, workers and the inspector, and a
// go-redis client for herald's own Redis use (rate limiting). It is safe for
// concurrent use; Close it when done.
type Backend struct {
	connOpt   asynq.RedisConnOpt
	rdb       redis.UniversalClient
	mini      *miniredis.Miniredis
	stopClock func() // stops the embedded Redis's clock goroutine
	namespace string
	logger    *slog.Logger
	inspector *asynq.Inspector

	closeOnce sync.Once
	closeErr  error
}

// Connect opens the queue backend named by rawURL (see the package
// documentation for the forms; "" starts an embedded miniredis) and checks
// that it answers and is Redis 6.2 or newer.
func Connect(ctx context.Context, rawURL string, opts ...Option) (*Backend, error) {
	o := options{namespace: DefaultNamespace}
	for _, opt := range opts {
		opt(&o)
	}
	if !namespaceRE.MatchString(o.namespace) {
		return nil, dispatcher.Errorf(dispatcher.EINVALID, "queue namespace %q: use at most 40 letters, digits and _ . : -", o.namespace)
	}
	if o.logger == nil {
		o.logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if o.poolSize <= 0 {
		o.poolSize = max(32, 10*runtime.GOMAXPROCS(0))
	}
	b := &Backend{namespace: o.namespace, logger: o.logger}

	if rawURL == "" {
		m := miniredis.NewMiniRedis()
		if err := m.Start(); err != nil { // listens on 127.0.0.1:0
			return nil, fmt.Errorf("start embedded redis: %w", err)
		}
		b.mini = m
		b.stopClock = runClock(m, embeddedClockTick)
		b.connOpt = asynq.RedisClientOpt{Addr: m.Addr(), PoolSize: o.poolSize}
	} else {
		co, err := parseURL(rawURL, o.poolSize)
		if err != nil {
			return nil, err
		}
		b.connOpt = co
	}
	rc, ok := b.connOpt.MakeRedisClient().(redis.UniversalClient)
	if !ok { // cannot happen with the options built above
		b.closeMini()
		return nil, fmt.Errorf("connect queue backend: unsupported connection option %T", b.connOpt)
	}
	b.rdb = rc
	b.inspector = asynq.NewInspectorFromRedisClient(rc)

	if err := b.Ping(ctx); err != nil {
		_ = b.Close()
		return nil, fmt.Errorf("connect queue backend %s: %w", redactURL(rawURL), err)
	}
	if !b.Embedded() {
		if err := b.checkVersion(ctx); err != nil {
			_ = b.Close()
			return nil, fmt.Errorf("connect queue backend %s: %w", redactURL(rawURL), err)
		}
	}
	b.logger.Debug("queue backend connected", "embedded", b.Embedded(), "namespace", b.namespace)
	return b, nil
}

// parseURL turns a queue URL into asynq connection options. It adds to
// asynq.ParseRedisURI the redis-cluster scheme, the ACL user name (which
// ParseRedisURI drops), the master password for Sentinel and a pool size.
func parseURL(raw string, poolSize int) (asynq.RedisConnOpt, error) {
	u, err := url.Parse(raw)
	if err != nil {
		// url.Error quotes the URL, password included: do not wrap it.
		return nil, dispatcher.Errorf(dispatcher.EINVALID, "queue URL %s cannot be parsed: use redis://host:port/db", redactURL(raw))
	}
	var user, pass string
	if u.User != nil {
		user = u.User.Username()
		pass, _ = u.User.Password()
	}
	if u.Scheme == "redis-cluster" {
		var addrs []string
		for _, a := range strings.Split(u.Host, ",") {
			if a = strings.TrimSpace(a); a != "" {
				addrs = append(addrs, a)
			}
		}
		if len(addrs) == 0 {
			return nil, dispatcher.Errorf(dispatcher.EINVALID, "queue URL %s names no cluster node: use redis-cluster://host1:port,host2:port", redactURL(raw))
		}
		return asynq.RedisClusterClientOpt{Addrs: addrs, Username: user, Password: pass}, nil
	}
	co, err := asynq.ParseRedisURI(raw)
	if err != nil {
		return nil, dispatcher.Errorf(dispatcher.EINVALID, "queue URL %s: %s; use redis://, rediss://, redis-socket://, redis-sentinel:// or redis-cluster://", redactURL(raw), strings.TrimPrefix(err.Error(), "asynq: "))
	}
	switch c := co.(type) {
	case asynq.RedisClientOpt:
		if c.Addr == "" {
			return nil, dispatcher.Errorf(dispatcher.EINVALID, "queue URL %s names no host", redactURL(raw))
		}
		c.Username = user
		c.PoolSize = poolSize
		return c, nil
	case asynq.RedisFailoverClientOpt:
		if c.MasterName == "" {
			return nil, dispatcher.Errorf(dispatcher.EINVALID, "queue URL %s names no master: add ?master=name", redactURL(raw))
		}
		c.Password = pass
		c.PoolSize = poolSize
		return c, nil
	}
	return co, nil
}

// redactURL returns raw with any password replaced, for error messages.
func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparsable URL)"
	}
	return u.Redacted()
}

// checkVersion refuses a Redis older than 6.2. A server that hides INFO
// (some managed services rename it) is let through with a warning.
func (b *Backend) checkVersion(ctx context.Context) error {
	info, err := b.rdb.Info(ctx, "server").Result()
	if err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("read redis version: %w", err)
		}
		b.logger.Warn("cannot read redis version; redis 6.2 or newer is required", "err", err)
		return nil
	}
	v := infoField(info, "redis_version")
	if v == "" {
		b.logger.Warn("redis reports no version; redis 6.2 or newer is required")
		return nil
	}
	if !versionAtLeast(v, 6, 2) {
		return fmt.Errorf("%w, this server is %s: upgrade it, or run without a URL for the embedded queue", ErrRedisTooOld, v)
	}
	return nil
}

// infoField returns the value of field in an INFO reply.
func infoField(info, field string) string {
	for _, line := range strings.Split(info, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), field+":"); ok {
			return v
		}
	}
	return ""
}

// versionAtLeast reports whether the dotted version v is at least
// major.minor; an unreadable version counts as new enough.
func versionAtLeast(v string, major, minor int) bool {
	parts := strings.SplitN(v, ".", 3)
	ma, err := strconv.Atoi(parts[0])
	if err != nil {
		return true
	}
	mi := 0
	if len(parts) > 1 {
		if mi, err = strconv.Atoi(parts[1]); err != nil {
			return true
		}
	}
	return ma > major || (ma == major && mi >= minor)
}

// RedisConnOpt returns the asynq connection options, for asynq tools such
// as asynqmon that herald mounts.
func (b *Backend) RedisConnOpt() asynq.RedisConnOpt { return b.connOpt }

// Redis returns the shared go-redis client, for herald's own use of Redis
// (a global rate limit). Backend owns it: do not close it.
func (b *Backend) Redis() redis.UniversalClient { return b.rdb }

// Embedded reports whether the backend is the in-process miniredis, whose
// queue is lost when the process ends and which manages a few thousand
// tasks a second, not millions.
func (b *Backend) Embedded() bool { return b.mini != nil }

// Namespace returns the queue name prefix.
func (b *Backend) Namespace() string { return b.namespace }

// QueueName returns the asynq queue that carries jobs on channel k.
func (b *Backend) QueueName(k dispatcher.ChannelKind) string { return b.namespace + string(k) }

// Ping checks that Redis answers.
func (b *Backend) Ping(ctx context.Context) error {
	if err := b.rdb.Ping(ctx).Err(); err != nil {
		return fmt.Errorf("ping redis: %w", err)
	}
	return nil
}

// Close closes the Redis connections and stops the embedded miniredis.
// Stop workers first: a worker still running loses its Redis. Close is
// idempotent.
func (b *Backend) Close() error {
	b.closeOnce.Do(func() {
		if err := b.rdb.Close(); err != nil {
			b.closeErr = fmt.Errorf("close redis client: %w", err)
		}
		b.closeMini()
	})
	return b.closeErr
}

func (b *Backend) closeMini() {
	if b.mini != nil {
		b.stopClock()
		b.mini.Close()
	}
}

// embeddedClockTick is how often the embedded Redis's TTLs are advanced,
// and so the precision of its expiries.
const embeddedClockTick = 500 * time.Millisecond

// runClock makes m's TTLs count down with real time, so that asynq's unique
// locks, stats keys, server heartbeats and retention expire as on Redis:
// every tick it fast-forwards m by the time elapsed since the last one.
// miniredis's own ClockTTL option does the same on every command, and each
// time sorts every key in the database, which at 5,000 tasks already took
// 80 % of the CPU and grows quadratically; once per tick it stays cheap.
// The returned func stops the goroutine and waits for it.
func runClock(m *miniredis.Miniredis, every time.Duration) (stop func()) {
	quit, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(every)
		defer t.Stop()
		last := time.Now()
		for {
			select {
			case <-quit:
				return
			case <-t.C:
				now := time.Now()
				m.FastForward(now.Sub(last))
				last = now
			}
		}
	}()
	var once sync.Once
	return func() {
		once.Do(func() {
			close(quit)
			<-done
		})
	}
}
