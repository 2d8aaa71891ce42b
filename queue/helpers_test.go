package queue

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"log/slog"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/heraldhq/herald/dispatcher"
	"github.com/heraldhq/herald/internal/testenv"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// waitTimeout bounds every poll in these tests; a healthy run needs a
// fraction of it.
const waitTimeout = 15 * time.Second

// eachBackend runs fn against the embedded miniredis and, when
// HERALD_TEST_REDIS_URL is set, against the real Redis, each with a fresh
// random namespace.
func eachBackend(t *testing.T, fn func(t *testing.T, b *Backend)) {
	t.Helper()
	t.Run("embedded", func(t *testing.T) { fn(t, newTestBackend(t, "")) })
	t.Run("redis", func(t *testing.T) { fn(t, newTestBackend(t, testenv.RedisURL(t))) })
}

// newTestBackend connects with a random namespace and, on a shared Redis,
// deletes that namespace's keys afterwards (never anything else).
func newTestBackend(t testing.TB, url string) *Backend {
	t.Helper()
	ns := randomNamespace(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	b, err := Connect(ctx, url, WithNamespace(ns), WithLogger(testLogger(t)))
	if err != nil {
		t.Fatalf("Connect(%q): %v", url, err)
	}
	t.Cleanup(func() {
		if !b.Embedded() {
			deleteNamespace(t, b)
		}
		if err := b.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return b
}

// randomNamespace is about as long as DefaultNamespace, so that memory
// measured in tests is what production sees: the queue name is stored in
// every task's key and message.
func randomNamespace(t testing.TB) string {
	t.Helper()
	var r [4]byte
	if _, err := rand.Read(r[:]); err != nil {
		t.Fatal(err)
	}
	return "h" + hex.EncodeToString(r[:]) + ":"
}

// deleteNamespace removes the keys of b's queues (asynq keeps every key of
// a queue under asynq:{queue}:) and their entries in asynq's queue set.
func deleteNamespace(t testing.TB, b *Backend) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	rdb := b.Redis()
	iter := rdb.Scan(ctx, 0, "asynq:{"+b.Namespace()+"*", 1000).Iterator()
	var batch []string
	flush := func() {
		if len(batch) > 0 {
			if err := rdb.Unlink(ctx, batch...).Err(); err != nil {
				t.Errorf("cleanup unlink: %v", err)
			}
			batch = batch[:0]
		}
	}
	for iter.Next(ctx) {
		if !strings.HasPrefix(iter.Val(), "asynq:{"+b.Namespace()) {
			continue
		}
		batch = append(batch, iter.Val())
		if len(batch) == 1000 {
			flush()
		}
	}
	flush()
	if err := iter.Err(); err != nil {
		t.Errorf("cleanup scan: %v", err)
	}
	for _, k := range Channels() {
		if err := rdb.SRem(ctx, "asynq:queues", b.QueueName(k)).Err(); err != nil {
			t.Errorf("cleanup srem: %v", err)
		}
	}
}

// testLogger logs to the test output when HERALD_TEST_VERBOSE=1, else
// discards: the logs are for debugging a failure, not for the assertions.
func testLogger(t testing.TB) *slog.Logger {
	if os.Getenv("HERALD_TEST_VERBOSE") == "1" {
		return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}

type tWriter struct{ t testing.TB }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// waitFor polls cond until it is true or waitTimeout passes.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// fastWorker is a worker configuration that reacts in milliseconds.
func fastWorker() WorkerConfig {
	return WorkerConfig{
		Concurrency:          4,
		RetryBase:            time.Millisecond,
		RetryCap:             10 * time.Millisecond,
		PollInterval:         20 * time.Millisecond,
		DelayedCheckInterval: 50 * time.Millisecond,
		ShutdownTimeout:      5 * time.Second,
	}
}

// startWorker runs a worker until the test ends (or stop is called) and
// checks that Run returns nil promptly after its context ends.
func startWorker(t *testing.T, b *Backend, h dispatcher.Handler, cfg WorkerConfig) (stop func()) {
	t.Helper()
	if cfg.Logger == nil {
		cfg.Logger = testLogger(t)
	}
	w := NewWorker(b, h, cfg)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("Run: %v", err)
				}
			case <-time.After(waitTimeout):
				t.Errorf("Run did not return after its context ended")
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

// call is one handler invocation as the handler saw it.
type call struct {
	Job    dispatcher.Job
	CtxErr error // ctx.Err() when the handler returned
}

// scriptHandler returns results[i] for its i-th call (the last one for any
// later call) and records every call.
type scriptHandler struct {
	mu      sync.Mutex
	calls   []call
	results []error
	block   func(ctx context.Context, n int) // optional, runs before returning
}

func (h *scriptHandler) Handle(ctx context.Context, j dispatcher.Job) error {
	h.mu.Lock()
	n := len(h.calls)
	h.calls = append(h.calls, call{Job: j})
	var res error
	if len(h.results) > 0 {
		res = h.results[min(n, len(h.results)-1)]
	}
	h.mu.Unlock()
	if h.block != nil {
		h.block(ctx, n)
	}
	h.mu.Lock()
	h.calls[n].CtxErr = ctx.Err()
	h.mu.Unlock()
	return res
}

func (h *scriptHandler) Calls() []call {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]call(nil), h.calls...)
}

// depthOf returns the depth of channel k's queue.
func depthOf(t testing.TB, b *Backend, k dispatcher.ChannelKind) QueueDepth {
	t.Helper()
	ds, err := b.Depth(context.Background())
	if err != nil {
		t.Fatalf("Depth: %v", err)
	}
	for _, d := range ds {
		if d.Channel == k {
			return d
		}
	}
	t.Fatalf("Depth has no %s queue", k)
	return QueueDepth{}
}

// testJob is a valid job on channel k.
// testJob is a job of one delivery, 1000+n, of campaign 42.
func testJob(k dispatcher.ChannelKind, n int64, gen int) dispatcher.Job {
	return dispatcher.Job{CampaignID: 42, Channel: k, Items: []dispatcher.JobItem{{DeliveryID: 1000 + n, Generation: gen}}}
}

// batchJob is a job of n deliveries of campaign 42 from first on, spaced
// by step.
func batchJob(k dispatcher.ChannelKind, first int64, n int, step int64) dispatcher.Job {
	j := dispatcher.Job{CampaignID: 42, Channel: k}
	for i := range n {
		j.Items = append(j.Items, dispatcher.JobItem{DeliveryID: first + int64(i)*step, Generation: i % 3})
	}
	return j
}

var errTransient = errors.New("connection reset by peer")
