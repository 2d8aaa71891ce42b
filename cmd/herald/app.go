package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/heraldhq/herald/dispatcher"
	"github.com/heraldhq/herald/queue"
	"github.com/heraldhq/herald/store"
)

// app holds what one herald command opens: configuration, the ledger, the
// queue. Everything is opened on first use and closed when run returns.
type app struct {
	stdout, stderr io.Writer
	getenv         func(string) string

	flagDB, flagRedis, flagActor string

	cfg     Config
	logger  *slog.Logger
	st      *store.DB
	backend *queue.Backend
	closers []func() error

	// Queue timing; zero means the queue's defaults. The demo shortens
	// them so a small campaign finishes in seconds.
	pollInterval time.Duration
	retryBase    time.Duration
}

func (a *app) init() error {
	cfg, err := loadConfig(a.getenv)
	if err != nil {
		return dispatcher.Errorf(dispatcher.EINVALID, "%v", err)
	}
	if a.flagDB != "" {
		cfg.DatabaseURL = a.flagDB
	}
	if a.flagRedis != "" {
		cfg.RedisURL = a.flagRedis
	}
	a.cfg = cfg
	return a.setLogLevel("warn")
}

// setLogLevel makes the logger, at HERALD_LOG_LEVEL when set, else at def:
// one-shot commands keep quiet below warnings, long-running ones log info.
func (a *app) setLogLevel(def string) error {
	level := a.cfg.LogLevel
	if level == "" {
		level = def
	}
	l, err := newLogger(a.stderr, level, a.cfg.LogFormat)
	if err != nil {
		return dispatcher.Errorf(dispatcher.EINVALID, "%v", err)
	}
	a.logger = l
	return nil
}

func (a *app) close() {
	for i := len(a.closers) - 1; i >= 0; i-- {
		_ = a.closers[i]()
	}
}

// store opens the ledger.
func (a *app) store(ctx context.Context) (dispatcher.Store, error) {
	if a.st != nil {
		return a.st, nil
	}
	st, err := store.Open(ctx, a.cfg.DatabaseURL, store.WithLogger(a.logger))
	if err != nil {
		return nil, fmt.Errorf("open ledger: %w", err)
	}
	a.st = st
	a.closers = append(a.closers, st.Close)
	return st, nil
}

// connect opens the Redis backend (embedded when HERALD_REDIS_URL is unset).
func (a *app) connect(ctx context.Context) (*queue.Backend, error) {
	if a.backend != nil {
		return a.backend, nil
	}
	b, err := queue.Connect(ctx, a.cfg.RedisURL, queue.WithNamespace(a.cfg.Namespace), queue.WithLogger(a.logger))
	if err != nil {
		return nil, fmt.Errorf("connect to Redis: %w", err)
	}
	a.backend = b
	a.closers = append(a.closers, b.Close)
	return b, nil
}

// queue returns the queue for commands that hand work to workers. With an
// embedded Redis there is no queue another process could read, so it
// returns nil: the ledger holds the deliveries as pending and a worker's
// reconciler queues them.
func (a *app) queue(ctx context.Context) (dispatcher.Queue, error) {
	if a.cfg.RedisURL == "" {
		return nil, nil
	}
	b, err := a.connect(ctx)
	if err != nil {
		return nil, err
	}
	return queue.NewClient(b, queue.ClientConfig{MaxRetry: a.cfg.MaxRetry, Logger: a.logger}), nil
}

func (a *app) operations(ctx context.Context) (*dispatcher.Operations, error) {
	st, err := a.store(ctx)
	if err != nil {
		return nil, err
	}
	return &dispatcher.Operations{Store: st, Actor: a.actor()}, nil
}

// campaign finds a campaign by name with an error that says what exists.
func (a *app) campaign(ctx context.Context, name string) (*dispatcher.Campaign, error) {
	st, err := a.store(ctx)
	if err != nil {
		return nil, err
	}
	c, err := st.CampaignByName(ctx, name)
	if dispatcher.ErrorCode(err) == dispatcher.ENOTFOUND {
		return nil, dispatcher.Errorf(dispatcher.ENOTFOUND, "no campaign named %q (see `herald campaign list`)", name)
	}
	return c, err
}

// actor is who the audit log names for this command.
func (a *app) actor() string {
	if a.flagActor != "" {
		return a.flagActor
	}
	for _, v := range []string{"HERALD_ACTOR", "USER", "LOGNAME"} {
		if u := strings.TrimSpace(a.getenv(v)); u != "" {
			return "cli:" + u
		}
	}
	if h, err := os.Hostname(); err == nil {
		return "cli@" + h
	}
	return "cli"
}
