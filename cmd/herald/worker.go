package main

import (
	"context"
	"fmt"
	"runtime/debug"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/heraldhq/herald/dispatcher"
	"github.com/heraldhq/herald/queue"
)

func (a *app) workerCommand() *cobra.Command {
	var (
		concurrency int
		only        string
	)
	cmd := &cobra.Command{
		Use:   "worker",
		Short: "Send queued notices (run as many as you like, on as many machines)",
		Long: `Run a worker: take queued deliveries, render each notice, send it, record the
outcome, and fall back to the next channel when an address is invalid. At start
and then periodically it reconciles the queue with the ledger, so nothing the
ledger holds as unfinished is lost if Redis lost it.

Channels are enabled by configuration: e-mail with HERALD_SMTP_HOST, SMS with
HERALD_TWILIO_ACCOUNT_SID; the dry-run file channel always.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			if err := a.setLogLevel("info"); err != nil {
				return err
			}
			tuneGC(a.getenv)
			stopProfile, err := startCPUProfile(a.getenv(cpuProfileEnv), a.logger)
			if err != nil {
				return err
			}
			defer stopProfile()
			st, err := a.store(ctx)
			if err != nil {
				return err
			}
			b, err := a.connect(ctx)
			if err != nil {
				return err
			}
			chans, err := a.buildChannels(ctx)
			if err != nil {
				return err
			}
			if only != "" {
				p, err := dispatcher.ParsePolicy(only)
				if err != nil {
					return err
				}
				kept := map[dispatcher.ChannelKind]dispatcher.Channel{}
				for _, k := range p {
					if chans[k] == nil {
						return dispatcher.Errorf(dispatcher.EINVALID, "--channels %s: the %s channel is not configured (see `herald worker --help`)", only, k)
					}
					kept[k] = chans[k]
				}
				chans = kept
			}
			if concurrency == 0 {
				concurrency = a.cfg.Concurrency
			}
			var names []string
			for k := range chans {
				names = append(names, string(k))
			}
			a.logger.Info("worker starting", "channels", strings.Join(names, ","), "concurrency", concurrency, "embedded_redis", b.Embedded())
			if b.Embedded() {
				a.logger.Warn("embedded Redis: this worker sees only work it queues itself; run one worker, or set HERALD_REDIS_URL to run several")
			}
			return runWorkers(ctx, a, st, b, chans, 1, concurrency, reconcileEvery(b))
		},
	}
	cmd.Flags().IntVar(&concurrency, "concurrency", 0, "notices sent at once (default HERALD_WORKER_CONCURRENCY)")
	cmd.Flags().StringVar(&only, "channels", "", "serve only these channels, e.g. sms")
	return cmd
}

// reconcileEvery is how often a worker reconciles: scheduled launches,
// deliveries abandoned in sending, finished campaigns.
func reconcileEvery(b *queue.Backend) time.Duration {
	if b.Embedded() {
		return time.Second
	}
	return 15 * time.Second
}

// Garbage collection of a worker and an import. Their live heaps are
// small (compiled templates and a few batches in flight; a few batches of
// rows) and they allocate per message or row, so Go's default (collect
// when the heap doubles) spent about a tenth of their CPU collecting,
// measured with `herald bench`. They let the heap grow to five times the
// live data instead, under a soft limit that keeps them well within the
// 200 MB each may take. GOGC and GOMEMLIMIT, when set, win.
const (
	workerGCPercent  = 400
	workerSoftMemory = 150 << 20
)

func tuneGC(getenv func(string) string) {
	if getenv("GOGC") == "" {
		debug.SetGCPercent(workerGCPercent)
	}
	if getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(workerSoftMemory)
	}
}

// feedEvery is how often a worker's feeder looks at the queues: a window
// of 64 jobs of 100 deliveries lasts about half a second at the fastest
// rates measured, so the feeder looks several times within it.
const feedEvery = 100 * time.Millisecond

// workerShape splits a worker's concurrency (messages in flight) into
// batches run at once and messages sent at once within a batch: one batch
// more than the sends need, so that one batch can claim or record while
// the others send.
func workerShape(concurrency int) (jobs, parallel int) {
	parallel = min(max(concurrency, 1), dispatcher.DefaultParallel)
	jobs = (concurrency+parallel-1)/parallel + 1
	return jobs, parallel
}

// runWorkers runs n queue workers sharing one handler, plus the feeder and
// the reconciler, until ctx ends.
func runWorkers(ctx context.Context, a *app, st dispatcher.Store, b *queue.Backend, chans map[dispatcher.ChannelKind]dispatcher.Channel, n, concurrency int, every time.Duration) error {
	q := queue.NewClient(b, queue.ClientConfig{MaxRetry: a.cfg.MaxRetry, Logger: a.logger})
	jobs, parallel := workerShape(concurrency)
	metrics := newWorkerMetrics()
	defer metrics.summary(a.logger)
	handler := &dispatcher.Worker{Store: st, Queue: q, Channels: chans, Logger: a.logger, Observer: metrics,
		Parallel: parallel, MaxRetry: a.cfg.MaxRetry, RetryBase: a.retryBase,
		Pacer: queue.NewRateLimiter(b.Redis(), b.Namespace()),
		Pacing: dispatcher.Pacing{
			Rates:             map[dispatcher.ChannelKind]float64{dispatcher.Email: a.cfg.RateEmail, dispatcher.SMS: a.cfg.RateSMS},
			DomainConcurrency: a.cfg.DomainConcurrency,
		}}
	weights := map[dispatcher.ChannelKind]int{}
	for k := range chans {
		weights[k] = 1
	}
	rec := &dispatcher.Reconciler{Store: st, Queue: q, Logger: a.logger, StaleAfter: a.cfg.StaleAfter, BatchSize: a.cfg.BatchSize}
	feeder := &dispatcher.Feeder{Store: st, Queue: q, Logger: a.logger, BatchSize: a.cfg.BatchSize, Window: a.cfg.QueueWindow}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	errs := make(chan error, n+2)
	wg.Go(func() { errs <- rec.Loop(ctx, every) })
	wg.Go(func() { feeder.Loop(ctx, feedEvery) })
	if addr := a.cfg.WorkerMetricsAddr; addr != "" {
		wg.Go(func() {
			if err := metrics.serve(ctx, addr, a.logger); err != nil {
				errs <- err
				cancel()
			}
		})
	}
	for i := 0; i < n; i++ {
		w := queue.NewWorker(b, handler, queue.WorkerConfig{
			Concurrency: jobs, Channels: weights, Logger: a.logger,
			PollInterval: a.pollInterval, DelayedCheckInterval: delayedCheck(a.pollInterval), RetryBase: a.retryBase,
			// Let running sends finish and be recorded on SIGTERM (the
			// deploy files give 30 s of grace); a send cut off is resent
			// by the reconciler, a possible duplicate.
			ShutdownTimeout: 25 * time.Second,
		})
		wg.Go(func() {
			if err := w.Run(ctx); err != nil {
				errs <- fmt.Errorf("worker: %w", err)
				cancel()
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// delayedCheck is how often snoozed jobs that are due go back to their
// queue: the precision of pause/resume (a paused job snoozes a second) and
// of rate-limit waits. asynq's default of 5 s would make a resume take
// up to six seconds; half a second costs Redis one cheap script per tick.
func delayedCheck(poll time.Duration) time.Duration {
	if poll > 0 && poll < 500*time.Millisecond {
		return poll
	}
	return 500 * time.Millisecond
}

func (a *app) reconcileCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "reconcile",
		Short: "Queue again whatever the ledger holds as unfinished (after Redis lost data)",
		Long: `Make Redis agree with the ledger: every queued delivery of a running campaign
is queued again and the feed cursors are rewound, so the workers' feeders hand
every pending delivery over anew (a job Redis still holds runs twice, and the
second run finds nothing to do); a delivery stuck in sending longer than
HERALD_STALE_AFTER is sent again as a new attempt, and campaigns with nothing
left are marked completed. Workers recover lost jobs on their own once their
queues run empty; this is for an operator who knows Redis lost data.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			st, err := a.store(ctx)
			if err != nil {
				return err
			}
			q, err := a.queue(ctx)
			if err != nil {
				return err
			}
			if q == nil {
				fmt.Fprintln(a.stdout, "embedded Redis: there is no shared queue to reconcile; a worker hands everything unfinished to its own queue when it starts")
			}
			rec := &dispatcher.Reconciler{Store: st, Queue: q, Logger: a.logger, StaleAfter: a.cfg.StaleAfter, BatchSize: a.cfg.BatchSize}
			res, err := rec.Run(ctx, true)
			fmt.Fprintf(a.stdout, "campaigns %d, queued %d, resent after a crash %d, completed %d\n", res.Campaigns, res.Queued, res.Resent, res.Completed)
			return err
		},
	}
}
