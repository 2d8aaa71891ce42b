package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"maps"
	"math"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" driver, for the bench's schema and version queries
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/heraldhq/herald/dispatcher"
	"github.com/heraldhq/herald/internal/benchdata"
	"github.com/heraldhq/herald/queue"
	"github.com/heraldhq/herald/store"
)

// benchOptions are the flags of `herald bench`.
type benchOptions struct {
	contacts    int
	workers     int
	concurrency int
	batchSize   int
	keep        bool
	importOnly  bool
	json        bool
	cpuprofile  string
	timeout     time.Duration
	samples     int
}

// benchChildEnv is set in the environment of every process the bench
// starts. The real herald binary ignores it; the test binary, which the
// bench re-executes under `go test`, reads it to run herald's main instead
// of the tests.
const benchChildEnv = "HERALD_BENCH_CHILD"

// workerReadyMarker is what a worker logs (as JSON) once it serves its
// queues; the bench launches the campaign only when every worker has.
const workerReadyMarker = `"msg":"queue worker started"`

func (a *app) benchCommand() *cobra.Command {
	var opt benchOptions
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Measure import, enqueue and dispatch at breach scale on this machine",
		Long: `Measure herald end to end with synthetic contacts: generate N people (names,
e-mail addresses and mobile numbers from fifteen countries, about 2 % of them
malformed) as a CSV file, import it with the real importer, launch the campaign,
and send every notice through worker processes to a local sink that accepts and
discards e-mail (SMTP) and SMS (a Twilio API double), in a process of its own.

It reports import rows/s, enqueue tasks/s, dispatch messages/s (from the launch
to the last outcome recorded in the ledger), per-message latency from the
ledger's events, the peak memory and CPU time of every process, and Redis
memory per queued task; with --json as one JSON object. Afterwards it checks the
ledger and the sink against what the generated list must give.

Where it runs:
  --redis URL or HERALD_REDIS_URL: real Redis, --workers separate
      "herald worker" processes. Required for representative figures.
  neither: embedded Redis and one in-process worker; the figures then say
      little about production and the output says so.
  --database URL: that ledger (the bench campaign is deleted afterwards).
  without it: a fresh schema in HERALD_DATABASE_URL when that is PostgreSQL,
      else a temporary SQLite file; either is removed afterwards.
Queue keys live under a namespace of their own and are deleted afterwards;
--keep leaves the ledger, the queue keys, the CSV file and the logs in place.

With --cpuprofile DIR each process writes a CPU profile there: import.pprof and
launch.pprof (this process), worker-N.pprof, sink.pprof (dispatch.pprof of the
in-process worker with the embedded Redis). Read them with
"go tool pprof -top DIR/worker-1.pprof". docs/benchmarks.md has the figures.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if opt.contacts < 1 {
				return usageError{fmt.Errorf("--contacts %d: give at least 1", opt.contacts)}
			}
			if opt.workers < 1 {
				return usageError{fmt.Errorf("--workers %d: give at least 1", opt.workers)}
			}
			if opt.concurrency < 0 || opt.samples < 1 {
				return usageError{fmt.Errorf("--concurrency must not be negative and --latency-samples must be positive")}
			}
			if opt.batchSize < 0 || opt.batchSize > 10000 {
				return usageError{fmt.Errorf("--batch-size %d: give 1 to 10000 deliveries per job", opt.batchSize)}
			}
			return a.runBench(cmd.Context(), opt, benchCommandLine(cmd))
		},
	}
	f := cmd.Flags()
	f.IntVar(&opt.contacts, "contacts", 100_000, "people in the generated list")
	f.IntVar(&opt.workers, "workers", 2, "worker processes (with real Redis)")
	f.IntVar(&opt.concurrency, "concurrency", 0, "notices each worker sends at once (default HERALD_WORKER_CONCURRENCY)")
	f.IntVar(&opt.batchSize, "batch-size", 0, "deliveries per queued job (default HERALD_BATCH_SIZE)")
	f.BoolVar(&opt.keep, "keep", false, "keep the ledger, the queue keys, the CSV file and the logs")
	f.BoolVar(&opt.importOnly, "import-only", false, "stop after the import")
	f.BoolVar(&opt.json, "json", false, "print the results as one JSON object")
	f.StringVar(&opt.cpuprofile, "cpuprofile", "", "write a CPU profile of every process to this directory")
	f.DurationVar(&opt.timeout, "timeout", 2*time.Hour, "give up if sending has not finished by then")
	f.IntVar(&opt.samples, "latency-samples", 2000, "deliveries whose events are read for the latency percentiles")
	cmd.AddCommand(a.benchSinkCommand())
	return cmd
}

// benchCommandLine is the command as typed, for the results.
func benchCommandLine(cmd *cobra.Command) string {
	parts := []string{"herald bench"}
	cmd.Flags().Visit(func(f *pflag.Flag) {
		parts = append(parts, "--"+f.Name+"="+redactURL(f.Value.String()))
	})
	return strings.Join(parts, " ")
}

// benchResult is what `herald bench` reports. Rates are per second of wall
// time; CPU figures are seconds per 1,000 messages (per 1,000 rows for the
// import).
type benchResult struct {
	Date           string       `json:"date"`
	Command        string       `json:"command"`
	Machine        benchMachine `json:"machine"`
	Database       string       `json:"database"`        // postgres or sqlite
	Ledger         string       `json:"ledger"`          // its URL, password hidden
	Queue          string       `json:"queue"`           // redis or embedded
	Namespace      string       `json:"queue_namespace"` // the bench's own, deleted afterwards
	Representative bool         `json:"representative"`
	Contacts       int          `json:"contacts"`
	Workers        int          `json:"workers"`
	Concurrency    int          `json:"concurrency"`
	BatchSize      int          `json:"batch_size"`

	GenerateS   float64 `json:"generate_s"`
	CSVBytes    int64   `json:"csv_bytes"`
	ImportS     float64 `json:"import_s"`
	ImportPerS  float64 `json:"import_per_s"`
	Accepted    int     `json:"accepted"`
	Rejected    int     `json:"rejected"`
	Warnings    int     `json:"warnings"`
	ImportRSSMB float64 `json:"import_rss_mb"`

	// Tasks are the deliveries pending at launch. The enqueue figures are
	// the probe's (see enqueueProbe): every pending delivery handed to the
	// queue, in jobs, with no window.
	Tasks        int     `json:"tasks"`
	EnqueueS     float64 `json:"enqueue_s"`
	EnqueuePerS  float64 `json:"enqueue_per_s"` // deliveries per second
	EnqueueJobs  int     `json:"enqueue_jobs"`
	Messages     int     `json:"messages"`
	SentEmail    int     `json:"sent_email"`
	SentSMS      int     `json:"sent_sms"`
	Failed       int     `json:"failed"`
	DispatchS    float64 `json:"dispatch_s"`
	DispatchPerS float64 `json:"dispatch_per_s"`
	// Latency is from the launch to a delivery's sent event: how long the
	// people of a campaign waited for their notice. Send is one message's
	// own time in the worker, from the start of its send to the provider's
	// answer, from the workers' histograms.
	LatencyP50Ms   float64 `json:"latency_p50_ms"`
	LatencyP99Ms   float64 `json:"latency_p99_ms"`
	SendP50Ms      float64 `json:"send_p50_ms"`
	SendP99Ms      float64 `json:"send_p99_ms"`
	SendSamples    int64   `json:"send_samples"`
	LatencySamples int     `json:"latency_samples"`
	WorkerRSSMB    float64 `json:"worker_rss_mb"` // the largest worker's peak

	// RedisBytesPerTask is Redis memory per queued delivery with the
	// whole campaign queued (the probe), RedisBytesPerJob per job. The peak
	// figures are from the dispatch, under backpressure: the most jobs in
	// Redis at once and used_memory above the baseline at that moment.
	RedisBytesPerTask float64 `json:"redis_bytes_per_task"`
	RedisBytesPerJob  float64 `json:"redis_bytes_per_job"`
	RedisPeakTasks    int     `json:"redis_peak_tasks"`
	RedisPeakBytes    int64   `json:"redis_peak_bytes"`
	// MachineCPUBusyPct is the share of all CPUs busy from launch to the
	// last delivery, whoever used them; the load averages say how busy the
	// machine was with other work.
	MachineCPUBusyPct float64 `json:"machine_cpu_busy_pct"`
	LoadAvgBefore     float64 `json:"load_avg_before"`
	LoadAvgAfter      float64 `json:"load_avg_after"`
	// Round trips behind each message, server-wide from launch to the last
	// delivery (other clients of the same servers included), and the
	// ledger's table activity per contact over the whole run (a fresh
	// PostgreSQL schema only, so herald's alone).
	RedisCmdsPerMsg  float64                       `json:"redis_cmds_per_msg"`
	PGCommitsPerMsg  float64                       `json:"pg_commits_per_msg"`
	LedgerPerContact map[string]benchTableActivity `json:"ledger_per_contact,omitempty"`

	Processes    []benchProcess `json:"processes"`
	Sink         sinkCounts     `json:"sink"`
	Profiles     []string       `json:"profiles,omitempty"`
	Notes        []string       `json:"notes,omitempty"`
	FailedChecks []string       `json:"failed_checks,omitempty"`
}

// benchProcess is one process's cost. PeakRSSMB is 0 where not measured
// (the shared Redis and PostgreSQL servers).
type benchProcess struct {
	Name      string  `json:"name"`
	PID       int     `json:"pid,omitempty"`
	PeakRSSMB float64 `json:"peak_rss_mb,omitempty"`
	CPUS      float64 `json:"cpu_s"`
	CPUPer1k  float64 `json:"cpu_s_per_1k"`
}

// benchTableActivity is one ledger table's work per contact.
type benchTableActivity struct {
	Inserted   float64 `json:"inserted"`
	Updated    float64 `json:"updated"`
	IndexScans float64 `json:"index_scans"`
	SeqScans   float64 `json:"seq_scans"`
}

// benchMachine describes where the figures were taken.
type benchMachine struct {
	CPUs     int    `json:"cpus"`
	CPUModel string `json:"cpu_model,omitempty"`
	MemoryMB int64  `json:"memory_mb,omitempty"`
	Kernel   string `json:"kernel,omitempty"`
	Go       string `json:"go"`
	Redis    string `json:"redis,omitempty"`
	Postgres string `json:"postgres,omitempty"`
}

// benchRun is one `herald bench` in progress.
type benchRun struct {
	a        *app
	opt      benchOptions
	log      io.Writer // progress lines
	res      benchResult
	dir      string // CSV, reject report, worker logs
	dbURL    string
	appName  string // application_name of this run's database connections
	postgres bool
	fresh    bool // the ledger was made for this run and goes with it
	st       *store.DB
	b        *queue.Backend
	ns       string
	camp     *dispatcher.Campaign
	expect   benchdata.Summary
	sink     *benchChild
	sinkDone bool // stopSink ran
	workers  []*benchChild
	cleanups []func(context.Context) error // run last first
}

func (a *app) runBench(ctx context.Context, opt benchOptions, cmdline string) (err error) {
	tuneGC(a.getenv) // the bench imports as `herald import` does
	r := &benchRun{a: a, opt: opt, log: a.stderr}
	r.res.Date = time.Now().UTC().Format(time.RFC3339)
	r.res.Command = cmdline
	r.res.Contacts = opt.contacts
	r.res.Machine = machineInfo()
	r.res.LoadAvgBefore = loadAverage()
	defer func() {
		// Clean up even after an interrupt, with a little time of its own.
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Minute)
		defer cancel()
		for i := len(r.cleanups) - 1; i >= 0; i-- {
			err = errors.Join(err, r.cleanups[i](cctx))
		}
	}()
	if err := r.setup(ctx); err != nil {
		return err
	}
	if err := r.generate(ctx); err != nil {
		return err
	}
	if !opt.importOnly {
		// The sink first: it has nothing to do with the import, but a
		// failure to start it is better found before minutes of import.
		if err := r.startSink(ctx); err != nil {
			return err
		}
	}
	if err := r.importList(ctx); err != nil {
		return err
	}
	if !opt.importOnly {
		if err := r.enqueueProbe(ctx); err != nil {
			return err
		}
		if err := r.dispatch(ctx); err != nil {
			return err
		}
	}
	r.check()
	r.res.LoadAvgAfter = loadAverage()
	if err := r.report(); err != nil {
		return err
	}
	if len(r.res.FailedChecks) > 0 {
		return fmt.Errorf("bench: %d checks failed: %s", len(r.res.FailedChecks), strings.Join(r.res.FailedChecks, "; "))
	}
	return nil
}

func (r *benchRun) progress(format string, args ...any) {
	fmt.Fprintf(r.log, "bench: "+format+"\n", args...)
}

func (r *benchRun) note(format string, args ...any) {
	r.res.Notes = append(r.res.Notes, fmt.Sprintf(format, args...))
}

// setup makes the work folder, the ledger and the queue backend.
func (r *benchRun) setup(ctx context.Context) error {
	a := r.a
	dir, err := os.MkdirTemp("", "herald-bench-")
	if err != nil {
		return fmt.Errorf("bench work folder: %w", err)
	}
	r.dir = dir
	r.cleanups = append(r.cleanups, func(context.Context) error {
		if r.opt.keep {
			r.progress("kept the CSV file and logs in %s", dir)
			return nil
		}
		return os.RemoveAll(dir)
	})
	if r.opt.cpuprofile != "" {
		if err := os.MkdirAll(r.opt.cpuprofile, 0o755); err != nil {
			return fmt.Errorf("--cpuprofile: %w", err)
		}
	}
	if err := r.openLedger(ctx); err != nil {
		return err
	}

	hexid := randomHex(4)
	r.ns = a.cfg.Namespace + "bench-" + hexid + ":"
	r.res.Namespace = r.ns
	b, err := queue.Connect(ctx, a.cfg.RedisURL, queue.WithNamespace(r.ns), queue.WithLogger(a.logger))
	if err != nil {
		return fmt.Errorf("connect to Redis: %w", err)
	}
	r.b = b
	r.cleanups = append(r.cleanups, func(ctx context.Context) error {
		var err error
		if !b.Embedded() && !r.opt.keep {
			n, cerr := deleteQueueKeys(ctx, b, r.ns)
			if cerr != nil {
				err = fmt.Errorf("delete the bench's queue keys (namespace %s): %w", r.ns, cerr)
			} else {
				r.progress("deleted %d queue keys of namespace %s", n, r.ns)
			}
		}
		return errors.Join(err, b.Close())
	})
	if b.Embedded() {
		r.res.Queue = "embedded"
		r.res.Workers = 1
		if r.opt.workers != 1 {
			r.note("embedded Redis: one in-process worker instead of %d processes", r.opt.workers)
		}
		r.note("embedded Redis and one in-process worker: these figures are NOT representative of production; give --redis redis://... for real ones")
	} else {
		r.res.Queue = "redis"
		r.res.Representative = true
		r.res.Workers = r.opt.workers
		if info, err := b.Redis().Info(ctx, "server").Result(); err == nil {
			if v, err := infoValue(info, "redis_version"); err == nil {
				r.res.Machine.Redis = v
			}
		}
	}
	r.res.Concurrency = r.opt.concurrency
	if r.res.Concurrency == 0 {
		r.res.Concurrency = a.cfg.Concurrency
	}
	r.res.BatchSize = r.opt.batchSize
	if r.res.BatchSize == 0 {
		r.res.BatchSize = a.cfg.BatchSize
	}
	a.cfg.BatchSize = r.res.BatchSize // the enqueue probe's jobs too

	st, err := store.Open(ctx, r.dbURL, store.WithLogger(a.logger))
	if err != nil {
		return fmt.Errorf("open ledger: %w", err)
	}
	r.st = st
	r.cleanups = append(r.cleanups, func(context.Context) error { return st.Close() })

	sub, err := fs.Sub(demoTemplates, "demotemplates")
	if err != nil {
		return err
	}
	ts, err := dispatcher.LoadTemplates(sub)
	if err != nil {
		return err
	}
	r.camp = &dispatcher.Campaign{
		Name: "bench-" + hexid, IncidentRef: fmt.Sprintf("BENCH-%d", r.opt.contacts), DefaultLocale: "en",
		Policy: dispatcher.Policy{dispatcher.Email, dispatcher.SMS}, Status: dispatcher.CampaignDraft,
		Sender: dispatcher.Sender{FromName: "Herald Bench", FromEmail: "notices@bench.example", ReplyTo: "privacy@bench.example", SMSFrom: "+15017122661"},
		// The bench measures throughput, not the clock: with SMS quiet
		// hours on, a run at night would wait for the morning.
		Settings: dispatcher.Settings{QuietHours: "off"},
	}
	if err := st.CreateCampaign(ctx, r.camp, ts); err != nil {
		return fmt.Errorf("create bench campaign: %w", err)
	}
	r.cleanups = append(r.cleanups, func(ctx context.Context) error {
		if r.opt.keep {
			r.progress("kept campaign %s in %s", r.camp.Name, redactURL(r.dbURL))
			return nil
		}
		if r.fresh {
			return nil // the whole ledger goes
		}
		if err := st.DeleteCampaign(ctx, r.camp.ID); err != nil {
			return fmt.Errorf("delete bench campaign %s: %w", r.camp.Name, err)
		}
		return nil
	})
	return nil
}

// openLedger decides which ledger the bench uses (see the command's help)
// and, for a fresh PostgreSQL schema, creates it and arranges its removal.
func (r *benchRun) openLedger(ctx context.Context) error {
	a := r.a
	given := a.flagDB
	if given == "" {
		env := strings.TrimSpace(a.getenv("HERALD_DATABASE_URL"))
		if isPostgresURL(env) {
			u, drop, err := freshSchema(ctx, env)
			if err != nil {
				return err
			}
			r.dbURL, r.postgres, r.fresh = u, true, true
			r.cleanups = append(r.cleanups, func(ctx context.Context) error {
				if r.opt.keep {
					return nil
				}
				return drop(ctx)
			})
		} else {
			r.dbURL, r.fresh = "sqlite:"+filepath.Join(r.dir, "ledger.db"), true
		}
	} else {
		r.dbURL, r.postgres = given, isPostgresURL(given)
	}
	if r.postgres {
		// The run's own connections carry a name, so that the CPU time
		// of the PostgreSQL backends serving them can be told from that of
		// other clients of the same server (pgBackendsCPU).
		r.appName = "herald-bench-" + randomHex(4)
		u, err := url.Parse(r.dbURL)
		if err != nil {
			return fmt.Errorf("bench ledger: the database URL cannot be parsed")
		}
		q := u.Query()
		q.Set("application_name", r.appName)
		u.RawQuery = q.Encode()
		r.dbURL = u.String()
	}
	r.res.Ledger = redactURL(r.dbURL)
	if r.postgres {
		r.res.Database = "postgres"
		r.res.Machine.Postgres = postgresVersion(ctx, r.dbURL)
	} else {
		r.res.Database = "sqlite"
	}
	return nil
}

func isPostgresURL(s string) bool {
	l := strings.ToLower(s)
	return strings.HasPrefix(l, "postgres://") || strings.HasPrefix(l, "postgresql://")
}

// freshSchema creates an empty schema in the database at base and returns
// a URL that selects it and the function that drops it.
func freshSchema(ctx context.Context, base string) (string, func(context.Context) error, error) {
	admin, err := sql.Open("pgx", base)
	if err != nil {
		return "", nil, fmt.Errorf("bench ledger: %w", err)
	}
	admin.SetMaxOpenConns(1)
	schema := "herald_bench_" + randomHex(6)
	if _, err := admin.ExecContext(ctx, "CREATE SCHEMA "+schema); err != nil {
		_ = admin.Close()
		return "", nil, fmt.Errorf("bench ledger: create schema in %s: %w", redactURL(base), err)
	}
	drop := func(ctx context.Context) error {
		_, err := admin.ExecContext(ctx, "DROP SCHEMA "+schema+" CASCADE")
		if err != nil {
			err = fmt.Errorf("drop bench schema %s: %w", schema, err)
		}
		return errors.Join(err, admin.Close())
	}
	u, err := url.Parse(base)
	if err != nil {
		return "", nil, errors.Join(fmt.Errorf("bench ledger: HERALD_DATABASE_URL cannot be parsed"), drop(ctx))
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String(), drop, nil
}

func postgresVersion(ctx context.Context, u string) string {
	db, err := sql.Open("pgx", u)
	if err != nil {
		return ""
	}
	defer db.Close()
	var v string
	if err := db.QueryRowContext(ctx, "SHOW server_version").Scan(&v); err != nil {
		return ""
	}
	return v
}

// generate writes the synthetic list to the work folder.
func (r *benchRun) generate(ctx context.Context) error {
	path := filepath.Join(r.dir, "contacts.csv")
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("create contact list: %w", err)
	}
	start := time.Now()
	sum, err := benchdata.Write(ctx, f, r.opt.contacts)
	if cerr := f.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("write contact list: %w", cerr)
	}
	if err != nil {
		return err
	}
	r.res.GenerateS = time.Since(start).Seconds()
	r.expect = sum
	if fi, err := os.Stat(path); err == nil {
		r.res.CSVBytes = fi.Size()
	}
	r.progress("generated %d contacts (%.1f MB) in %.2fs", r.opt.contacts, float64(r.res.CSVBytes)/1e6, r.res.GenerateS)
	return nil
}

// importList imports the list as `herald import` does and measures it.
func (r *benchRun) importList(ctx context.Context) error {
	f, err := os.Open(filepath.Join(r.dir, "contacts.csv"))
	if err != nil {
		return fmt.Errorf("open contact list: %w", err)
	}
	defer f.Close()
	rejects, err := os.Create(filepath.Join(r.dir, "contacts.rejects.csv"))
	if err != nil {
		return fmt.Errorf("create reject report: %w", err)
	}
	defer rejects.Close()

	im := &dispatcher.Importer{Store: r.st, Logger: r.a.logger}
	stopProfile, err := r.profile("import.pprof")
	if err != nil {
		return err
	}
	if err := resetPeakRSS(); err != nil {
		r.note("import RSS is this process's lifetime peak: %v", err)
	}
	cpu0, _ := selfCPU()
	pg0, pgErr := commCPU("postgres")
	own0, _ := r.pgBackendsCPU(ctx)
	r.progress("importing %d contacts ...", r.opt.contacts)
	start := time.Now()
	run, err := im.Import(ctx, r.camp, f, dispatcher.ImportOptions{Source: "bench.csv", Rejects: rejects})
	elapsed := time.Since(start)
	cpu1, _ := selfCPU()
	stopProfile()
	if err != nil {
		return fmt.Errorf("bench import: %w", err)
	}
	r.res.ImportS = elapsed.Seconds()
	r.res.ImportPerS = float64(run.Read) / elapsed.Seconds()
	r.res.Accepted, r.res.Rejected, r.res.Warnings = run.Accepted, run.Rejected, run.Warnings
	rss, _ := selfPeakRSS()
	r.res.ImportRSSMB = mb(rss)
	r.res.Processes = append(r.res.Processes, benchProcess{
		Name: "importer (this process)", PID: os.Getpid(), PeakRSSMB: mb(rss),
		CPUS: (cpu1 - cpu0).Seconds(), CPUPer1k: per1k((cpu1 - cpu0).Seconds(), run.Read),
	})
	if own1, err := r.pgBackendsCPU(ctx); err == nil {
		s := backendsDelta(own0, own1).Seconds()
		r.res.Processes = append(r.res.Processes, benchProcess{Name: "postgres backends of the import", CPUS: s, CPUPer1k: per1k(s, run.Read)})
	}
	if pg1, err := commCPU("postgres"); err == nil && pgErr == nil && r.postgres {
		s := (pg1 - pg0).Seconds()
		r.res.Processes = append(r.res.Processes, benchProcess{Name: "postgres, whole server, import", CPUS: s, CPUPer1k: per1k(s, run.Read)})
	}
	r.progress("imported %d rows in %.2fs: %.0f rows/s (accepted %d, rejected %d, warnings %d)",
		run.Read, r.res.ImportS, r.res.ImportPerS, run.Accepted, run.Rejected, run.Warnings)
	return nil
}

// profile starts this process's CPU profile into name under --cpuprofile.
func (r *benchRun) profile(name string) (func(), error) {
	if r.opt.cpuprofile == "" {
		return func() {}, nil
	}
	p := filepath.Join(r.opt.cpuprofile, name)
	stop, err := startCPUProfile(p, r.a.logger)
	if err != nil {
		return nil, err
	}
	r.res.Profiles = append(r.res.Profiles, p)
	return stop, nil
}

// dispatch starts the workers, launches the campaign, waits until every
// delivery is final, stops everything and reads the figures.
func (r *benchRun) dispatch(ctx context.Context) error {
	before, err := r.st.Report(ctx, r.camp.ID)
	if err != nil {
		return fmt.Errorf("bench: %w", err)
	}
	for _, sc := range before.States {
		if sc.State == dispatcher.StatePending {
			r.res.Tasks += int(sc.N)
		}
	}

	// On every way out the in-process worker, if any, is stopped and
	// waited for (deferred calls run last first).
	var inproc sync.WaitGroup
	defer inproc.Wait()
	wctx, stopWorkers := context.WithCancel(ctx)
	defer stopWorkers()
	var inprocErr error
	if r.b.Embedded() {
		ready := make(chan struct{})
		if err := r.startInProcessWorker(wctx, ready, &inproc, &inprocErr); err != nil {
			return err
		}
		select {
		case <-ready:
		case <-time.After(30 * time.Second):
			return errors.New("bench: the in-process worker did not start within 30s")
		case <-ctx.Done():
			return ctx.Err()
		}
	} else {
		if err := r.startWorkers(ctx); err != nil {
			return err
		}
	}

	// Baselines, then launch.
	var redis0 redisCounters
	if !r.b.Embedded() {
		redis0 = r.redisStats(ctx)
	}
	commits0, commitsErr := r.pgCommits(ctx)
	pgCPU0, pgErr := commCPU("postgres")
	own0, _ := r.pgBackendsCPU(ctx)
	mach0, _ := machineCPU()
	cpu0, _ := selfCPU()
	if err := resetPeakRSS(); err != nil {
		r.note("launch RSS is this process's lifetime peak: %v", err)
	}
	sampler := r.sampleRedis(ctx, redis0.mem)
	defer sampler() // stops it on early returns; a second call is harmless

	ops := &dispatcher.Operations{Store: r.st, Actor: "bench"}
	r.progress("launching: %d deliveries, %d workers × %d", r.res.Tasks, r.res.Workers, r.res.Concurrency)
	launchAt := time.Now()
	if err := ops.Launch(ctx, r.camp); err != nil {
		return fmt.Errorf("bench launch: %w", err)
	}
	cpu1, _ := selfCPU()
	launchRSS, _ := selfPeakRSS()
	launchName := "launch (this process)"
	if r.b.Embedded() {
		launchName = "launch and worker (this process)"
	}

	var dispatchProfile func()
	if r.b.Embedded() {
		if dispatchProfile, err = r.profile("dispatch.pprof"); err != nil {
			return err
		}
	}
	waitErr := r.waitFinished(ctx, launchAt)

	// Costs up to the last delivery, before anything is stopped.
	mach1, _ := machineCPU()
	pgCPU1, _ := commCPU("postgres")
	own1, ownErr := r.pgBackendsCPU(ctx)
	peak := sampler()
	var redis1 redisCounters
	if !r.b.Embedded() {
		redis1 = r.redisStats(ctx)
	}
	commits1, _ := r.pgCommits(ctx)
	// Peak memory of the processes still running, from the kernel: a
	// child's rusage would report the bench's own peak, which the child
	// inherits at fork and keeps through exec.
	childRSS := map[*benchChild]int64{}
	for _, c := range append(slices.Clone(r.workers), r.sink) {
		if c != nil {
			if rss, err := procPeakRSS(c.cmd.Process.Pid); err == nil {
				childRSS[c] = rss
			}
		}
	}
	if dispatchProfile != nil {
		dispatchProfile()
	}
	cpu2, _ := selfCPU()
	endRSS, _ := selfPeakRSS()

	// Stop the workers and the sink; their usage is known once they exit.
	stopWorkers()
	inproc.Wait()
	stopErr := r.stopChildren()
	if waitErr != nil {
		return waitErr
	}
	if inprocErr != nil {
		return fmt.Errorf("bench: in-process worker: %w", inprocErr)
	}
	if stopErr != nil {
		return stopErr
	}

	if err := r.readLedger(ctx, launchAt); err != nil {
		return err
	}
	if err := r.readSendDurations(); err != nil {
		r.note("send durations not read from the worker logs: %v", err)
	}
	msgs := r.res.Messages
	if r.b.Embedded() {
		r.res.WorkerRSSMB = mb(endRSS)
		r.res.Processes = append(r.res.Processes, benchProcess{Name: launchName, PID: os.Getpid(), PeakRSSMB: mb(max(launchRSS, endRSS)),
			CPUS: (cpu2 - cpu0).Seconds(), CPUPer1k: per1k((cpu2 - cpu0).Seconds(), msgs)})
	} else {
		r.res.Processes = append(r.res.Processes, benchProcess{Name: launchName, PID: os.Getpid(), PeakRSSMB: mb(launchRSS),
			CPUS: (cpu1 - cpu0).Seconds(), CPUPer1k: per1k((cpu1 - cpu0).Seconds(), msgs)})
		for _, w := range r.workers {
			_, cpu := childUsage(w.cmd.ProcessState)
			rss := childRSS[w]
			r.res.WorkerRSSMB = max(r.res.WorkerRSSMB, mb(rss))
			r.res.Processes = append(r.res.Processes, benchProcess{Name: w.name, PID: w.cmd.Process.Pid, PeakRSSMB: mb(rss),
				CPUS: cpu.Seconds(), CPUPer1k: per1k(cpu.Seconds(), msgs)})
		}
	}
	if r.sink != nil {
		_, cpu := childUsage(r.sink.cmd.ProcessState)
		rss := childRSS[r.sink]
		r.res.Processes = append(r.res.Processes, benchProcess{Name: "sink", PID: r.sink.cmd.Process.Pid, PeakRSSMB: mb(rss),
			CPUS: cpu.Seconds(), CPUPer1k: per1k(cpu.Seconds(), msgs)})
	}
	if !r.b.Embedded() && redis1.cpu > 0 {
		s := redis1.cpu - redis0.cpu
		r.res.Processes = append(r.res.Processes, benchProcess{Name: "redis-server (whole server)", CPUS: s, CPUPer1k: per1k(s, msgs)})
		if msgs > 0 {
			r.res.RedisCmdsPerMsg = float64(redis1.cmds-redis0.cmds) / float64(msgs)
		}
	}
	if commitsErr == nil && commits1 > commits0 && msgs > 0 {
		r.res.PGCommitsPerMsg = float64(commits1-commits0) / float64(msgs)
	}
	if err := r.ledgerActivity(ctx); err != nil {
		r.note("ledger activity not read: %v", err)
	}
	if ownErr == nil {
		s := backendsDelta(own0, own1).Seconds()
		r.res.Processes = append(r.res.Processes, benchProcess{Name: "postgres backends of the run", CPUS: s, CPUPer1k: per1k(s, msgs)})
	}
	if pgErr == nil && r.postgres {
		s := (pgCPU1 - pgCPU0).Seconds()
		r.res.Processes = append(r.res.Processes, benchProcess{Name: "postgres, whole server", CPUS: s, CPUPer1k: per1k(s, msgs)})
	}
	if mach1.total > 0 {
		r.res.MachineCPUBusyPct = 100 * mach0.busy(mach1)
	}
	r.res.RedisPeakTasks, r.res.RedisPeakBytes = peak.tasks, peak.bytes
	return nil
}

// enqueueProbe measures the enqueue path alone, before any worker runs:
// it pages through the campaign's pending deliveries as the feeder does
// and hands all of them to the queue in jobs of the configured batch size,
// as if there were no window. It reports deliveries enqueued per second
// and, with real Redis, the memory a queued delivery costs; then it
// deletes those jobs, and the workers' feeders hand the campaign over
// again under backpressure.
func (r *benchRun) enqueueProbe(ctx context.Context) error {
	q := queue.NewClient(r.b, queue.ClientConfig{Logger: r.a.logger})
	size := r.a.cfg.BatchSize
	var mem0 int64
	if !r.b.Embedded() {
		mem0 = r.redisStats(ctx).mem
	}
	stopProfile, err := r.profile("enqueue.pprof")
	if err != nil {
		return err
	}
	start := time.Now()
	deliveries, jobs := 0, 0
	for _, k := range []dispatcher.ChannelKind{dispatcher.Email, dispatcher.SMS} {
		var after int64
		for {
			ds, err := r.st.PendingAfter(ctx, r.camp.ID, k, after, 64*size)
			if err != nil {
				stopProfile()
				return fmt.Errorf("bench enqueue: %w", err)
			}
			if len(ds) == 0 {
				break
			}
			after = ds[len(ds)-1].DeliveryID
			n, err := q.Enqueue(ctx, dispatcher.ItemJobs(r.camp.ID, k, ds, size)...)
			if err != nil {
				stopProfile()
				return fmt.Errorf("bench enqueue: %w", err)
			}
			deliveries += len(ds)
			jobs += n
		}
	}
	elapsed := time.Since(start)
	stopProfile()
	r.res.EnqueueS = elapsed.Seconds()
	r.res.EnqueuePerS = float64(deliveries) / elapsed.Seconds()
	r.res.EnqueueJobs = jobs
	if !r.b.Embedded() && deliveries > 0 && jobs > 0 {
		grown := r.redisStats(ctx).mem - mem0
		r.res.RedisBytesPerTask = float64(grown) / float64(deliveries)
		r.res.RedisBytesPerJob = float64(grown) / float64(jobs)
	}
	r.progress("enqueued %d deliveries in %d jobs in %.2fs: %.0f deliveries/s (%.0f jobs/s), %.1f B of Redis per queued delivery",
		deliveries, jobs, r.res.EnqueueS, r.res.EnqueuePerS, float64(jobs)/elapsed.Seconds(), r.res.RedisBytesPerTask)
	if _, err := deleteQueueKeys(ctx, r.b, r.ns); err != nil {
		return fmt.Errorf("bench: delete the probe's jobs: %w", err)
	}
	return nil
}

// startInProcessWorker runs one queue worker in this process, wired as
// `herald worker` wires it, against the sink. ready is closed once it
// serves.
func (r *benchRun) startInProcessWorker(ctx context.Context, ready chan struct{}, wg *sync.WaitGroup, errp *error) error {
	a := r.a
	// herald's defaults, as the worker processes get them (see
	// startWorkers): the user's HERALD_ settings must not slow or divert
	// the bench's worker.
	cfg, err := loadConfig(func(string) string { return "" })
	if err != nil {
		return err
	}
	cfg.DatabaseURL, cfg.RedisURL, cfg.Namespace = r.dbURL, a.cfg.RedisURL, r.ns
	cfg.LogLevel, cfg.LogFormat, cfg.MaxRetry = a.cfg.LogLevel, a.cfg.LogFormat, a.cfg.MaxRetry
	a.cfg = cfg
	if err := r.pointAtSink(); err != nil {
		return err
	}
	a.cfg.SMTPPool = r.res.Concurrency
	chans, err := a.buildChannels(ctx)
	if err != nil {
		return err
	}
	// Watch the worker's log for its start, whatever level is shown.
	a.logger = slog.New(&readyHandler{Handler: a.logger.Handler(), msg: "queue worker started", ready: ready, once: &sync.Once{}})
	a.pollInterval, a.retryBase = 50*time.Millisecond, 200*time.Millisecond
	wg.Add(1)
	go func() {
		defer wg.Done()
		*errp = runWorkers(ctx, a, r.st, r.b, chans, 1, r.res.Concurrency, reconcileEvery(r.b))
	}()
	return nil
}

// pointAtSink configures the e-mail and SMS channels for the sink.
func (r *benchRun) pointAtSink() error {
	host, port, err := net.SplitHostPort(r.sink.ready.SMTPAddr)
	if err != nil {
		return fmt.Errorf("sink address %q: %w", r.sink.ready.SMTPAddr, err)
	}
	p, err := strconv.Atoi(port)
	if err != nil {
		return fmt.Errorf("sink port %q: %w", port, err)
	}
	c := &r.a.cfg
	c.SMTPHost, c.SMTPPort, c.SMTPTLS, c.SMTPUsername, c.SMTPPassword = host, p, "none", "", ""
	c.TwilioAccountSID, c.TwilioAuthToken, c.TwilioAPIURL = r.sink.ready.TwilioAccountSID, r.sink.ready.TwilioAuthToken, r.sink.ready.TwilioURL
	c.TwilioStatusCallback, c.FileDir = "", ""
	return nil
}

// readyHandler passes records on and closes ready when one with message
// msg goes by, whether or not the wrapped handler shows its level.
type readyHandler struct {
	slog.Handler
	msg   string
	ready chan struct{}
	once  *sync.Once
}

func (h *readyHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= slog.LevelInfo || h.Handler.Enabled(ctx, l)
}

func (h *readyHandler) Handle(ctx context.Context, rec slog.Record) error {
	if rec.Message == h.msg {
		h.once.Do(func() { close(h.ready) })
	}
	if !h.Handler.Enabled(ctx, rec.Level) {
		return nil
	}
	return h.Handler.Handle(ctx, rec)
}

func (h *readyHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return &readyHandler{Handler: h.Handler.WithAttrs(as), msg: h.msg, ready: h.ready, once: h.once}
}

func (h *readyHandler) WithGroup(name string) slog.Handler {
	return &readyHandler{Handler: h.Handler.WithGroup(name), msg: h.msg, ready: h.ready, once: h.once}
}

// waitFinished polls the ledger until no delivery of the campaign is
// pending, queued or sending, printing progress now and then.
func (r *benchRun) waitFinished(ctx context.Context, launchAt time.Time) error {
	every := 100 * time.Millisecond
	noteEvery := 10 * time.Second
	if r.res.Tasks > 200_000 {
		noteEvery = time.Minute
	}
	deadline := time.Now().Add(r.opt.timeout)
	t := time.NewTicker(every)
	defer t.Stop()
	lastNote := time.Now()
	for {
		// Whether anything is left is one index look-up; counting what is
		// left reads every unfinished row, so it is done only for the
		// progress notes. (The dispatch time is taken from the ledger
		// afterwards, not from this loop.)
		some, err := r.st.Deliveries(ctx, dispatcher.DeliveryQuery{CampaignID: r.camp.ID, States: dispatcher.Unfinished, Limit: 1})
		if err != nil {
			return fmt.Errorf("bench: %w", err)
		}
		if len(some) == 0 {
			return nil
		}
		if time.Since(lastNote) > noteEvery {
			lastNote = time.Now()
			left, err := r.st.CountUnfinished(ctx, r.camp.ID)
			if err != nil {
				return fmt.Errorf("bench: %w", err)
			}
			done := int64(r.res.Tasks) - left
			r.progress("%d of %d deliveries final, %.0f/s so far", max(done, 0), r.res.Tasks, float64(max(done, 0))/time.Since(launchAt).Seconds())
		}
		if time.Now().After(deadline) {
			left, _ := r.st.CountUnfinished(ctx, r.camp.ID)
			return fmt.Errorf("bench: %d deliveries unfinished after %s (see the worker logs in %s; --keep keeps them)", left, r.opt.timeout, r.dir)
		}
		for _, w := range r.workers {
			select {
			case <-w.done:
				return fmt.Errorf("bench: %s exited early (%v); its log: %s", w.name, w.err, w.logPath)
			default:
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("bench interrupted: %w", ctx.Err())
		case <-t.C:
		}
	}
}

// redisCounters are server-wide figures from INFO.
type redisCounters struct {
	mem  int64   // used_memory
	cpu  float64 // used_cpu_user + used_cpu_sys, seconds
	cmds int64   // total_commands_processed
}

// redisStats reads the Redis server's counters; zeros when it cannot.
func (r *benchRun) redisStats(ctx context.Context) redisCounters {
	info, err := r.b.Redis().Info(ctx, "memory", "cpu", "stats").Result()
	if err != nil {
		return redisCounters{}
	}
	var c redisCounters
	c.mem, _ = infoInt(info, "used_memory")
	c.cmds, _ = infoInt(info, "total_commands_processed")
	u, _ := infoSeconds(info, "used_cpu_user")
	sys, _ := infoSeconds(info, "used_cpu_sys")
	c.cpu = u + sys
	return c
}

// pgBackendsCPU reads the CPU time used so far by each PostgreSQL backend
// serving one of this run's connections (application_name), by pid. The
// difference of two readings (backends new in the second count from zero)
// is the database work of this run alone, whatever else the server does;
// PostgreSQL's shared processes (WAL writer, checkpointer) are left out.
func (r *benchRun) pgBackendsCPU(ctx context.Context) (map[int]time.Duration, error) {
	if !r.postgres {
		return nil, errors.ErrUnsupported
	}
	db, err := sql.Open("pgx", r.dbURL)
	if err != nil {
		return nil, err
	}
	defer db.Close()
	rows, err := db.QueryContext(ctx, "SELECT pid FROM pg_stat_activity WHERE application_name = $1 AND pid <> pg_backend_pid()", r.appName)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[int]time.Duration{}
	for rows.Next() {
		var pid int
		if err := rows.Scan(&pid); err != nil {
			return nil, err
		}
		if cpu, err := pidCPU(pid); err == nil {
			out[pid] = cpu
		}
	}
	return out, rows.Err()
}

// backendsDelta is the CPU time the backends of after used since before.
func backendsDelta(before, after map[int]time.Duration) time.Duration {
	var d time.Duration
	for pid, cpu := range after {
		d += cpu - before[pid]
	}
	return d
}

// pgCommits reads the database's committed transactions so far (every
// client's, not only herald's).
func (r *benchRun) pgCommits(ctx context.Context) (int64, error) {
	if !r.postgres {
		return 0, errors.ErrUnsupported
	}
	db, err := sql.Open("pgx", r.dbURL)
	if err != nil {
		return 0, err
	}
	defer db.Close()
	var n int64
	err = db.QueryRowContext(ctx, "SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()").Scan(&n)
	return n, err
}

// ledgerActivity reads, for a fresh PostgreSQL schema (which nothing but
// this run touched), how many rows each table had inserted and updated and
// how many index and sequential scans it served, per contact of the list:
// the ledger work one notice costs, import to sent.
func (r *benchRun) ledgerActivity(ctx context.Context) error {
	if !r.postgres || !r.fresh {
		return nil
	}
	db, err := sql.Open("pgx", r.dbURL)
	if err != nil {
		return err
	}
	defer db.Close()
	rows, err := db.QueryContext(ctx, `SELECT relname, n_tup_ins, n_tup_upd, COALESCE(idx_scan, 0), COALESCE(seq_scan, 0)
		FROM pg_stat_user_tables WHERE schemaname = current_schema() ORDER BY relname`)
	if err != nil {
		return err
	}
	defer rows.Close()
	n := float64(r.opt.contacts)
	r.res.LedgerPerContact = map[string]benchTableActivity{}
	for rows.Next() {
		var name string
		var ins, upd, idx, seq int64
		if err := rows.Scan(&name, &ins, &upd, &idx, &seq); err != nil {
			return err
		}
		round := func(v int64) float64 { return math.Round(float64(v)/n*100) / 100 }
		a := benchTableActivity{Inserted: round(ins), Updated: round(upd), IndexScans: round(idx), SeqScans: round(seq)}
		if a == (benchTableActivity{}) {
			continue // a table this run did not use, or barely
		}
		r.res.LedgerPerContact[name] = a
	}
	return rows.Err()
}

// redisPeak is the sample with the most tasks in Redis.
type redisPeak struct {
	tasks int
	bytes int64
}

// sampleRedis samples the queue depth and Redis memory every 100ms until
// the returned function is called, which stops the sampling (the first
// time) and returns the sample with the most tasks. With the embedded
// Redis it samples nothing.
func (r *benchRun) sampleRedis(ctx context.Context, baseline int64) func() redisPeak {
	if r.b.Embedded() || baseline == 0 {
		return func() redisPeak { return redisPeak{} }
	}
	stop, done := make(chan struct{}), make(chan struct{})
	var peak redisPeak
	go func() {
		defer close(done)
		t := time.NewTicker(100 * time.Millisecond)
		defer t.Stop()
		for {
			depth, err := r.b.Depth(ctx)
			if err == nil {
				n := 0
				for _, d := range depth {
					n += d.Pending + d.Active + d.Scheduled + d.Retry + d.Archived
				}
				mem := r.redisStats(ctx).mem
				if n > peak.tasks && mem > 0 {
					peak = redisPeak{tasks: n, bytes: mem - baseline}
				}
			}
			select {
			case <-stop:
				return
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}()
	var once sync.Once
	return func() redisPeak {
		once.Do(func() { close(stop) })
		<-done
		return peak
	}
}

// readLedger takes the dispatch figures from the ledger: outcome counts,
// the time of the last outcome, and latencies from the events of a sample
// of deliveries spread evenly over the campaign.
func (r *benchRun) readLedger(ctx context.Context, launchAt time.Time) error {
	rep, err := r.st.Report(ctx, r.camp.ID)
	if err != nil {
		return fmt.Errorf("bench: %w", err)
	}
	attempted := []dispatcher.State{dispatcher.StateSent, dispatcher.StateDelivered, dispatcher.StateBouncedHard,
		dispatcher.StateBouncedSoft, dispatcher.StateFailed, dispatcher.StateSuppressed}
	total := 0
	for _, sc := range rep.States {
		if slices.Contains(attempted, sc.State) {
			total += int(sc.N)
		}
		switch {
		case sc.State.Reached() && sc.Channel == dispatcher.Email:
			r.res.SentEmail += int(sc.N)
		case sc.State.Reached() && sc.Channel == dispatcher.SMS:
			r.res.SentSMS += int(sc.N)
		case slices.Contains(attempted, sc.State):
			r.res.Failed += int(sc.N)
		}
	}
	r.res.Messages = total
	stride := max(1, int(math.Ceil(float64(total)/float64(r.opt.samples))))
	var last time.Time
	var sample []int64
	var after int64
	i := 0
	for {
		ds, err := r.st.Deliveries(ctx, dispatcher.DeliveryQuery{CampaignID: r.camp.ID, States: attempted, AfterID: after, Limit: 10_000})
		if err != nil {
			return fmt.Errorf("bench: %w", err)
		}
		if len(ds) == 0 {
			break
		}
		for _, d := range ds {
			if d.UpdatedAt.After(last) {
				last = d.UpdatedAt
			}
			if i%stride == 0 && d.State.Reached() {
				sample = append(sample, d.ID)
			}
			i++
		}
		after = ds[len(ds)-1].ID
	}
	if total > 0 && !last.IsZero() {
		r.res.DispatchS = last.Sub(launchAt).Seconds()
		r.res.DispatchPerS = float64(total) / r.res.DispatchS
	}
	var wait []time.Duration
	for _, id := range sample {
		evs, err := r.st.Events(ctx, id)
		if err != nil {
			return fmt.Errorf("bench: %w", err)
		}
		for _, e := range evs {
			if e.State == dispatcher.StateSent || e.State == dispatcher.StateDelivered {
				wait = append(wait, e.At.Sub(launchAt))
				break
			}
		}
	}
	r.res.LatencySamples = len(wait)
	r.res.LatencyP50Ms, r.res.LatencyP99Ms = ms(percentile(wait, 0.50)), ms(percentile(wait, 0.99))
	return nil
}

// readSendDurations merges the send-duration histograms the worker
// processes logged as they stopped (workerMetrics.summary) into the
// median and 99th percentile of one message's send.
func (r *benchRun) readSendDurations() error {
	var lists []string
	for _, w := range r.workers {
		f, err := os.Open(w.logPath)
		if err != nil {
			return err
		}
		sc := bufio.NewScanner(f)
		sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
		for sc.Scan() {
			var rec struct {
				Msg     string `json:"msg"`
				Buckets string `json:"buckets"`
			}
			if json.Unmarshal(sc.Bytes(), &rec) == nil && rec.Msg == sendSummaryMsg {
				lists = append(lists, rec.Buckets)
			}
		}
		err = sc.Err()
		f.Close()
		if err != nil {
			return err
		}
	}
	if len(lists) == 0 {
		return errors.New("no worker logged its send durations")
	}
	qs, n, err := latencySummary(lists, 0.50, 0.99)
	if err != nil {
		return err
	}
	r.res.SendP50Ms, r.res.SendP99Ms, r.res.SendSamples = ms(qs[0]), ms(qs[1]), n
	return nil
}

// percentile returns the q-quantile of xs (nearest rank); it sorts xs.
func percentile(xs []time.Duration, q float64) time.Duration {
	if len(xs) == 0 {
		return 0
	}
	slices.Sort(xs)
	k := int(math.Ceil(q*float64(len(xs)))) - 1
	return xs[min(max(k, 0), len(xs)-1)]
}

// check compares the ledger and the sink with what the list must give.
func (r *benchRun) check() {
	fail := func(format string, args ...any) {
		r.res.FailedChecks = append(r.res.FailedChecks, fmt.Sprintf(format, args...))
	}
	e := r.expect
	if r.res.Accepted != e.Accepted || r.res.Rejected != e.Rejected || r.res.Warnings != e.Warnings {
		fail("import accepted %d, rejected %d, warned %d; the list holds %d, %d, %d", r.res.Accepted, r.res.Rejected, r.res.Warnings, e.Accepted, e.Rejected, e.Warnings)
	}
	if r.opt.importOnly {
		return
	}
	if r.res.Tasks != e.Accepted {
		fail("%d deliveries pending at launch, want one per accepted contact (%d)", r.res.Tasks, e.Accepted)
	}
	if r.res.SentEmail != e.ByEmail || r.res.SentSMS != e.BySMS || r.res.Failed != 0 {
		fail("ledger: %d e-mails and %d SMS sent, %d failed; want %d, %d and 0", r.res.SentEmail, r.res.SentSMS, r.res.Failed, e.ByEmail, e.BySMS)
	}
	if r.res.Sink.SMTPMessages != r.res.SentEmail || r.res.Sink.SMSMessages != r.res.SentSMS {
		fail("the sink accepted %d e-mails and %d SMS; the ledger records %d and %d sent", r.res.Sink.SMTPMessages, r.res.Sink.SMSMessages, r.res.SentEmail, r.res.SentSMS)
	}
}

func (r *benchRun) report() error {
	out := r.a.stdout
	if r.opt.json {
		enc := json.NewEncoder(out)
		enc.SetIndent("", "  ")
		return enc.Encode(r.res)
	}
	res := &r.res
	fmt.Fprintf(out, "herald bench — %d contacts, ledger %s, queue %s", res.Contacts, res.Database, res.Queue)
	if !res.Representative {
		fmt.Fprint(out, " (NOT representative)")
	}
	fmt.Fprintf(out, "\nmachine: %d CPUs %s, %d MB, Go %s, Redis %s, PostgreSQL %s; load average %.1f before, %.1f after\n\n",
		res.Machine.CPUs, res.Machine.CPUModel, res.Machine.MemoryMB, res.Machine.Go, orDash(res.Machine.Redis), orDash(res.Machine.Postgres),
		res.LoadAvgBefore, res.LoadAvgAfter)
	target := func(ok bool, what string) string {
		if ok {
			return "meets " + what
		}
		return "MISSES " + what
	}
	fmt.Fprintf(out, "import    %9d rows     %8.2fs  %9.0f rows/s      %s\n", res.Contacts, res.ImportS, res.ImportPerS, target(res.ImportPerS >= 50_000, "≥ 50,000/s"))
	fmt.Fprintf(out, "          peak RSS %.0f MB                                  %s\n", res.ImportRSSMB, target(res.ImportRSSMB <= 200, "≤ 200 MB"))
	if !r.opt.importOnly {
		fmt.Fprintf(out, "enqueue   %9d deliveries %6.2fs  %9.0f deliveries/s in %d jobs (all at once, no window)\n", res.Tasks, res.EnqueueS, res.EnqueuePerS, res.EnqueueJobs)
		fmt.Fprintf(out, "dispatch  %9d messages %8.2fs  %9.0f messages/s  %s\n", res.Messages, res.DispatchS, res.DispatchPerS, target(res.DispatchPerS >= 15_000, "≥ 15,000/s"))
		fmt.Fprintf(out, "          %d workers × %d, jobs of %d, machine CPU %.0f %% busy\n", res.Workers, res.Concurrency, res.BatchSize, res.MachineCPUBusyPct)
		fmt.Fprintf(out, "latency   launch→sent p50 %.0f ms, p99 %.0f ms (%d samples); one send p50 %.2f ms, p99 %.2f ms (%d sends)\n",
			res.LatencyP50Ms, res.LatencyP99Ms, res.LatencySamples, res.SendP50Ms, res.SendP99Ms, res.SendSamples)
		fmt.Fprintf(out, "worker    peak RSS %.0f MB                                  %s\n", res.WorkerRSSMB, target(res.WorkerRSSMB <= 200, "≤ 200 MB"))
		if res.RedisBytesPerTask > 0 {
			fmt.Fprintf(out, "redis     %.1f B per queued delivery with all %d queued (%.0f B per job)   %s\n",
				res.RedisBytesPerTask, res.Tasks, res.RedisBytesPerJob, target(res.RedisBytesPerTask <= 300, "≤ 300 B"))
			fmt.Fprintf(out, "          during dispatch at most %d jobs, %.2f MB (backpressure)\n", res.RedisPeakTasks, float64(res.RedisPeakBytes)/1e6)
		}
		fmt.Fprintf(out, "sink      %d e-mails (%.1f MB over %d connections), %d SMS\n", res.Sink.SMTPMessages, float64(res.Sink.SMTPBytes)/1e6, res.Sink.SMTPConnections, res.Sink.SMSMessages)
		if res.RedisCmdsPerMsg > 0 || res.PGCommitsPerMsg > 0 {
			fmt.Fprintf(out, "per message: %.1f Redis commands, %.2f PostgreSQL commits (server-wide)\n", res.RedisCmdsPerMsg, res.PGCommitsPerMsg)
		}
	}
	if len(res.LedgerPerContact) > 0 {
		names := slices.Sorted(maps.Keys(res.LedgerPerContact))
		fmt.Fprintf(out, "ledger per contact, whole run:")
		for _, n := range names {
			t := res.LedgerPerContact[n]
			fmt.Fprintf(out, "  %s +%.2g ~%.2g idx %.2g", n, t.Inserted, t.Updated, t.IndexScans)
		}
		fmt.Fprintln(out)
	}
	fmt.Fprintf(out, "\n%-32s %7s %9s %8s %14s\n", "process", "pid", "peak RSS", "CPU s", "CPU s/1k msgs")
	for _, p := range res.Processes {
		rss := "-"
		if p.PeakRSSMB > 0 {
			rss = fmt.Sprintf("%.0f MB", p.PeakRSSMB)
		}
		pid := "-"
		if p.PID > 0 {
			pid = strconv.Itoa(p.PID)
		}
		fmt.Fprintf(out, "%-32s %7s %9s %8.2f %14.3f\n", p.Name, pid, rss, p.CPUS, p.CPUPer1k)
	}
	fmt.Fprintln(out, "(CPU during the import is per 1,000 rows imported)")
	for _, p := range res.Profiles {
		fmt.Fprintf(out, "profile: %s\n", p)
	}
	for _, n := range res.Notes {
		fmt.Fprintf(out, "note: %s\n", n)
	}
	for _, f := range res.FailedChecks {
		fmt.Fprintf(out, "CHECK FAILED: %s\n", f)
	}
	return nil
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func mb(b int64) float64 { return math.Round(float64(b)/(1<<20)*10) / 10 }

func ms(d time.Duration) float64 { return math.Round(float64(d)/float64(time.Millisecond)*100) / 100 }

func per1k(cpuSeconds float64, n int) float64 {
	if n == 0 {
		return 0
	}
	return cpuSeconds / float64(n) * 1000
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // crypto/rand.Read does not fail on supported platforms
	return hex.EncodeToString(b)
}

// machineInfo describes this machine for the results.
func machineInfo() benchMachine {
	m := benchMachine{CPUs: runtime.NumCPU(), Go: runtime.Version()}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPUModel = strings.TrimSpace(v)
				break
			}
		}
	}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		if n, err := procStatusBytes(string(b), "MemTotal"); err == nil {
			m.MemoryMB = n >> 20
		}
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = strings.TrimSpace(string(b))
	}
	return m
}

// loadAverage returns the one-minute load average (0 where unknown).
func loadAverage() float64 {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return 0
	}
	v, _ := strconv.ParseFloat(f[0], 64)
	return v
}

// deleteQueueKeys removes every Redis key of the bench's queues and their
// entry in asynq's list of queues, in batches so Redis never blocks long.
func deleteQueueKeys(ctx context.Context, b *queue.Backend, ns string) (int, error) {
	rdb := b.Redis()
	n := 0
	batch := make([]string, 0, 1000)
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		if err := rdb.Unlink(ctx, batch...).Err(); err != nil {
			return err
		}
		n += len(batch)
		batch = batch[:0]
		return nil
	}
	// asynq's keys of the namespace's queues, then herald's own under the
	// namespace: feed cursors, rate limits.
	for _, pattern := range []string{"asynq:{" + ns + "*", ns + "*"} {
		iter := rdb.Scan(ctx, 0, pattern, 1000).Iterator()
		for iter.Next(ctx) {
			batch = append(batch, iter.Val())
			if len(batch) == cap(batch) {
				if err := flush(); err != nil {
					return n, err
				}
			}
		}
		if err := iter.Err(); err != nil {
			return n, err
		}
		if err := flush(); err != nil {
			return n, err
		}
	}
	var names []any
	for _, k := range queue.Channels() {
		names = append(names, b.QueueName(k))
	}
	if err := rdb.SRem(ctx, "asynq:queues", names...).Err(); err != nil {
		return n, err
	}
	return n, nil
}

// benchChild is a herald process the bench started: the sink or a worker.
type benchChild struct {
	name    string
	cmd     *exec.Cmd
	logPath string
	logFile *os.File
	ready   sinkReady     // the sink's announcement
	lines   chan string   // the sink's stdout lines
	started chan struct{} // a worker logged that it serves
	done    chan struct{} // closed once the process exited
	err     error         // Wait's result, valid after done
}

// startChild starts this executable with args and env, its output in a log
// file of the work folder. A non-empty marker is watched for in the log.
func (r *benchRun) startChild(name string, args, env []string, marker string, stdoutLines bool) (*benchChild, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("bench: find the herald executable to start %s: %w", name, err)
	}
	c := &benchChild{name: name, logPath: filepath.Join(r.dir, name+".log"), done: make(chan struct{})}
	c.logFile, err = os.Create(c.logPath)
	if err != nil {
		return nil, fmt.Errorf("bench: %s log: %w", name, err)
	}
	c.cmd = exec.Command(exe, args...)
	c.cmd.Env = env
	c.cmd.Stderr = c.logFile
	c.cmd.Stdout = c.logFile
	if marker != "" {
		mw := newMarkerWriter(c.logFile, marker)
		c.started = mw.found
		c.cmd.Stderr = mw
		c.cmd.Stdout = mw
	}
	if stdoutLines {
		c.lines = make(chan string, 8)
		c.cmd.Stdout = &lineWriter{lines: c.lines}
	}
	setParentDeathSignal(c.cmd)
	if err := c.cmd.Start(); err != nil {
		_ = c.logFile.Close()
		return nil, fmt.Errorf("bench: start %s: %w", name, err)
	}
	go func() {
		c.err = c.cmd.Wait()
		_ = c.logFile.Close()
		close(c.done)
	}()
	return c, nil
}

// stop asks the child to finish (SIGTERM), and kills it if it has not
// within grace.
func (c *benchChild) stop(grace time.Duration) error {
	select {
	case <-c.done:
		return nil
	default:
	}
	_ = c.cmd.Process.Signal(syscall.SIGTERM)
	t := time.NewTimer(grace)
	defer t.Stop()
	select {
	case <-c.done:
		var ee *exec.ExitError
		if c.err != nil && !errors.As(c.err, &ee) {
			return fmt.Errorf("%s: %w", c.name, c.err)
		}
		if c.err != nil {
			return fmt.Errorf("%s exited with %v; its log: %s", c.name, c.err, c.logPath)
		}
		return nil
	case <-t.C:
		_ = c.cmd.Process.Kill()
		<-c.done
		return fmt.Errorf("%s did not stop within %s and was killed; its log: %s", c.name, grace, c.logPath)
	}
}

// childEnv is this process's environment without any HERALD_ setting
// (so the user's configuration cannot point a bench worker elsewhere),
// plus set.
func childEnv(set map[string]string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "HERALD_") {
			env = append(env, kv)
		}
	}
	keys := make([]string, 0, len(set))
	for k := range set {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		env = append(env, k+"="+set[k])
	}
	return env
}

// startSink starts `herald bench sink` and reads where it listens.
func (r *benchRun) startSink(ctx context.Context) error {
	args := []string{"bench", "sink", "--addr", "127.0.0.1:0"}
	if r.opt.cpuprofile != "" {
		p := filepath.Join(r.opt.cpuprofile, "sink.pprof")
		args = append(args, "--cpuprofile", p)
		r.res.Profiles = append(r.res.Profiles, p)
	}
	c, err := r.startChild("sink", args, childEnv(map[string]string{benchChildEnv: "1", "HERALD_LOG_LEVEL": "warn"}), "", true)
	if err != nil {
		return err
	}
	r.sink = c
	r.cleanups = append(r.cleanups, func(context.Context) error { return r.stopSink() })
	select {
	case line := <-c.lines:
		if err := json.Unmarshal([]byte(line), &c.ready); err != nil || c.ready.SMTPAddr == "" {
			return fmt.Errorf("bench: the sink announced %q, want its addresses as JSON; its log: %s", line, c.logPath)
		}
		return nil
	case <-c.done:
		return fmt.Errorf("bench: the sink exited at start (%v); its log: %s", c.err, c.logPath)
	case <-time.After(30 * time.Second):
		return fmt.Errorf("bench: the sink did not start within 30s; its log: %s", c.logPath)
	case <-ctx.Done():
		return ctx.Err()
	}
}

// stopSink stops the sink once and reads its final counts.
func (r *benchRun) stopSink() error {
	c := r.sink
	if c == nil || r.sinkDone {
		return nil
	}
	r.sinkDone = true
	err := c.stop(30 * time.Second)
	for {
		select {
		case line := <-c.lines:
			var counts sinkCounts
			if json.Unmarshal([]byte(line), &counts) == nil && strings.Contains(line, "smtp_messages") {
				r.res.Sink = counts
			}
			continue
		default:
		}
		break
	}
	if err != nil {
		return fmt.Errorf("bench: %w", err)
	}
	return nil
}

// startWorkers starts --workers `herald worker` processes against the
// ledger, the queue namespace and the sink, and waits until each serves.
func (r *benchRun) startWorkers(ctx context.Context) error {
	if err := r.pointAtSink(); err != nil {
		return err
	}
	c := r.a.cfg
	env := map[string]string{
		benchChildEnv:               "1",
		"HERALD_DATABASE_URL":       r.dbURL,
		"HERALD_REDIS_URL":          c.RedisURL,
		"HERALD_QUEUE_NAMESPACE":    r.ns,
		"HERALD_SMTP_HOST":          c.SMTPHost,
		"HERALD_SMTP_PORT":          strconv.Itoa(c.SMTPPort),
		"HERALD_SMTP_TLS":           "none",
		"HERALD_SMTP_POOL":          strconv.Itoa(r.res.Concurrency), // one connection per concurrent send, as the e-mail channel advises
		"HERALD_TWILIO_ACCOUNT_SID": c.TwilioAccountSID,
		"HERALD_TWILIO_AUTH_TOKEN":  c.TwilioAuthToken,
		"HERALD_TWILIO_API_URL":     c.TwilioAPIURL,
		"HERALD_WORKER_CONCURRENCY": strconv.Itoa(r.res.Concurrency),
		"HERALD_BATCH_SIZE":         strconv.Itoa(r.res.BatchSize),
		"HERALD_MAX_RETRY":          strconv.Itoa(c.MaxRetry),
		"HERALD_LOG_LEVEL":          "info",
		"HERALD_LOG_FORMAT":         "json",
		"HERALD_ACTOR":              "bench",
	}
	r.cleanups = append(r.cleanups, func(context.Context) error { return r.stopChildren() })
	for i := 1; i <= r.opt.workers; i++ {
		name := fmt.Sprintf("worker-%d", i)
		delete(env, cpuProfileEnv)
		if r.opt.cpuprofile != "" {
			p := filepath.Join(r.opt.cpuprofile, name+".pprof")
			env[cpuProfileEnv] = p
			r.res.Profiles = append(r.res.Profiles, p)
		}
		w, err := r.startChild(name, []string{"worker"}, childEnv(env), workerReadyMarker, false)
		if err != nil {
			return err
		}
		r.workers = append(r.workers, w)
	}
	deadline := time.NewTimer(60 * time.Second)
	defer deadline.Stop()
	for _, w := range r.workers {
		select {
		case <-w.started:
		case <-w.done:
			return fmt.Errorf("bench: %s exited at start (%v); its log: %s", w.name, w.err, w.logPath)
		case <-deadline.C:
			return fmt.Errorf("bench: %s did not report %s within 60s; its log: %s", w.name, workerReadyMarker, w.logPath)
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	r.progress("%d worker processes serving (logs in %s)", len(r.workers), r.dir)
	return nil
}

// stopChildren stops the workers, then the sink (which must outlive them
// to answer their last sends). It is safe to call more than once.
func (r *benchRun) stopChildren() error {
	var errs []error
	for _, w := range r.workers {
		if err := w.stop(30 * time.Second); err != nil {
			errs = append(errs, fmt.Errorf("bench: %w", err))
		}
	}
	errs = append(errs, r.stopSink())
	return errors.Join(errs...)
}
