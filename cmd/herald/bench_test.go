package main

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/heraldhq/herald/internal/benchdata"
	"github.com/heraldhq/herald/internal/testenv"
)

// TestMain lets `herald bench` re-execute the test binary as herald: the
// bench starts its sink and workers with os.Executable(), which under `go
// test` is this binary, and marks them with benchChildEnv.
func TestMain(m *testing.M) {
	if os.Getenv(benchChildEnv) == "1" {
		main()
		return
	}
	os.Exit(m.Run())
}

// benchJSON runs `herald bench ... --json` and decodes its result, also as
// a map to check the documented keys are there.
func benchJSON(t *testing.T, e env, args ...string) (benchResult, map[string]any) {
	t.Helper()
	out := mustHerald(t, e, append([]string{"bench", "--json"}, args...)...)
	var res benchResult
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("bench output is not its JSON result: %v\n%s", err, out)
	}
	var keys map[string]any
	if err := json.Unmarshal([]byte(out), &keys); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"contacts", "import_per_s", "enqueue_per_s", "dispatch_per_s", "latency_p50_ms",
		"latency_p99_ms", "import_rss_mb", "worker_rss_mb", "redis_bytes_per_task"} {
		if _, ok := keys[k]; !ok {
			t.Errorf("bench JSON lacks %q", k)
		}
	}
	return res, keys
}

// checkDispatch checks what every full bench run must show.
func checkDispatch(t *testing.T, res benchResult, n int) {
	t.Helper()
	want := benchdata.Expect(n)
	if res.Contacts != n || res.Accepted != want.Accepted || res.Rejected != want.Rejected || res.Warnings != want.Warnings {
		t.Errorf("import: contacts %d accepted %d rejected %d warnings %d; want %d %+v", res.Contacts, res.Accepted, res.Rejected, res.Warnings, n, want)
	}
	if res.Tasks != want.Accepted || res.Messages != want.Accepted || res.SentEmail != want.ByEmail || res.SentSMS != want.BySMS || res.Failed != 0 {
		t.Errorf("dispatch: tasks %d messages %d e-mail %d SMS %d failed %d; want %d, %d, %d, %d, 0",
			res.Tasks, res.Messages, res.SentEmail, res.SentSMS, res.Failed, want.Accepted, want.Accepted, want.ByEmail, want.BySMS)
	}
	if res.Sink.SMTPMessages != want.ByEmail || res.Sink.SMSMessages != want.BySMS {
		t.Errorf("the sink accepted %d e-mails and %d SMS, want %d and %d", res.Sink.SMTPMessages, res.Sink.SMSMessages, want.ByEmail, want.BySMS)
	}
	if len(res.FailedChecks) > 0 {
		t.Errorf("failed checks: %v", res.FailedChecks)
	}
	for name, v := range map[string]float64{"import_per_s": res.ImportPerS, "enqueue_per_s": res.EnqueuePerS, "dispatch_per_s": res.DispatchPerS,
		"latency_p50_ms": res.LatencyP50Ms, "import_rss_mb": res.ImportRSSMB, "worker_rss_mb": res.WorkerRSSMB} {
		if !(v > 0) {
			t.Errorf("%s = %v, want a positive figure", name, v)
		}
	}
	if res.LatencyP50Ms > res.LatencyP99Ms || res.SendP50Ms > res.SendP99Ms || res.LatencySamples == 0 {
		t.Errorf("latency p50 %v p99 %v, send p50 %v p99 %v over %d samples", res.LatencyP50Ms, res.LatencyP99Ms, res.SendP50Ms, res.SendP99Ms, res.LatencySamples)
	}
	// The last delivery cannot be recorded before the launch, nor later
	// than the sum of a generous allowance for a small run.
	if res.DispatchS <= 0 || res.DispatchS > 120 {
		t.Errorf("dispatch took %vs", res.DispatchS)
	}
	if res.LatencyP99Ms > res.DispatchS*1000+1 {
		t.Errorf("p99 latency %v ms is longer than the whole dispatch (%v s)", res.LatencyP99Ms, res.DispatchS)
	}
}

// TestBenchEmbedded runs the whole bench on embedded Redis and a temporary
// SQLite ledger, as CI does on every change: small, but every stage and
// every check of a real run, the sink in its own process included.
func TestBenchEmbedded(t *testing.T) {
	const n = 200
	res, _ := benchJSON(t, env{}, "--contacts", "200", "--workers", "3")
	checkDispatch(t, res, n)
	if res.Representative || res.Queue != "embedded" || res.Database != "sqlite" || res.Workers != 1 {
		t.Errorf("embedded run reported representative=%v queue=%s database=%s workers=%d", res.Representative, res.Queue, res.Database, res.Workers)
	}
	if !strings.Contains(strings.Join(res.Notes, "\n"), "NOT representative") {
		t.Errorf("notes do not warn that embedded figures are not representative: %v", res.Notes)
	}
	var sink bool
	for _, p := range res.Processes {
		if p.Name == "sink" {
			sink = p.PID > 0 && p.PID != os.Getpid()
		}
	}
	if !sink {
		t.Errorf("no sink process of its own in %+v", res.Processes)
	}
	// The temporary ledger went with the run.
	path := strings.TrimPrefix(res.Ledger, "sqlite:")
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Errorf("temporary ledger %s still there after the run (%v)", path, err)
	}
}

func TestBenchImportOnly(t *testing.T) {
	res, _ := benchJSON(t, env{}, "--contacts", "150", "--import-only")
	want := benchdata.Expect(150)
	if res.Accepted != want.Accepted || res.Rejected != want.Rejected || res.Tasks != 0 || res.Messages != 0 {
		t.Errorf("import-only: accepted %d rejected %d tasks %d messages %d; want %d, %d, 0, 0", res.Accepted, res.Rejected, res.Tasks, res.Messages, want.Accepted, want.Rejected)
	}
	for _, p := range res.Processes {
		if p.Name == "sink" || strings.HasPrefix(p.Name, "worker") {
			t.Errorf("import-only started %s", p.Name)
		}
	}
}

// TestBenchKeep checks that --keep leaves the ledger with the campaign.
func TestBenchKeep(t *testing.T) {
	t.Setenv("TMPDIR", t.TempDir()) // the kept work folder goes with the test
	db := filepath.Join(t.TempDir(), "kept.db")
	var out bytes.Buffer
	code := run(context.Background(), []string{"bench", "--json", "--contacts", "50", "--import-only", "--keep", "--database", db}, &out, &out, env{}.get)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, out.String())
	}
	got := mustHerald(t, env{"HERALD_DATABASE_URL": db}, "campaign", "list")
	if !strings.Contains(got, "bench-") {
		t.Errorf("campaign list after --keep lacks the bench campaign:\n%s", got)
	}
}

func TestBenchFlags(t *testing.T) {
	for _, args := range [][]string{
		{"bench", "--contacts", "0"},
		{"bench", "--workers", "0"},
		{"bench", "--latency-samples", "0"},
	} {
		if code, _, errOut := herald(t, env{}, args...); code != exitInvalid {
			t.Errorf("%v: exit %d, want %d (%s)", args, code, exitInvalid, errOut)
		}
	}
}

// TestBenchRealServices runs the bench as documented against the real
// Redis and PostgreSQL: worker processes, a fresh schema, profiles, and
// nothing left behind afterwards.
func TestBenchRealServices(t *testing.T) {
	redisURL := testenv.RedisURL(t)
	dbURL := testenv.DatabaseURL(t)
	prof := t.TempDir()
	const n = 400
	res, _ := benchJSON(t, env{"HERALD_REDIS_URL": redisURL, "HERALD_DATABASE_URL": dbURL},
		"--contacts", "400", "--workers", "2", "--concurrency", "4", "--cpuprofile", prof)
	checkDispatch(t, res, n)
	if !res.Representative || res.Queue != "redis" || res.Database != "postgres" || res.Workers != 2 || res.Concurrency != 4 {
		t.Errorf("representative=%v queue=%s database=%s workers=%d concurrency=%d", res.Representative, res.Queue, res.Database, res.Workers, res.Concurrency)
	}
	if res.RedisBytesPerTask <= 0 || res.RedisPeakTasks <= 0 {
		t.Errorf("redis bytes per task %v at %d tasks: not measured", res.RedisBytesPerTask, res.RedisPeakTasks)
	}
	workers := map[string]bool{}
	for _, p := range res.Processes {
		if strings.HasPrefix(p.Name, "worker-") {
			workers[p.Name] = p.PeakRSSMB > 0 && p.CPUS > 0 && p.PID != os.Getpid()
		}
	}
	if len(workers) != 2 || !workers["worker-1"] || !workers["worker-2"] {
		t.Errorf("worker processes with memory and CPU measured: %v", workers)
	}
	for _, name := range []string{"import.pprof", "enqueue.pprof", "worker-1.pprof", "worker-2.pprof", "sink.pprof"} {
		fi, err := os.Stat(filepath.Join(prof, name))
		if err != nil || fi.Size() == 0 {
			t.Errorf("profile %s: %v", name, err)
		}
	}

	// Nothing left behind: no key of the namespace, no schema.
	opt, err := redis.ParseURL(redisURL)
	if err != nil {
		t.Fatal(err)
	}
	rdb := redis.NewClient(opt)
	defer rdb.Close()
	ctx := context.Background()
	keys, err := rdb.Keys(ctx, "asynq:{"+res.Namespace+"*").Result()
	if err != nil {
		t.Fatal(err)
	}
	own, err := rdb.Keys(ctx, res.Namespace+"*").Result() // feed cursors, rate limits
	if err != nil {
		t.Fatal(err)
	}
	keys = append(keys, own...)
	if len(keys) > 0 || res.Namespace == "" {
		t.Errorf("namespace %q keys left in Redis: %v", res.Namespace, keys)
	}
	if member, _ := rdb.SIsMember(ctx, "asynq:queues", res.Namespace+"email").Result(); member {
		t.Errorf("queue %semail still listed in asynq:queues", res.Namespace)
	}
	u, err := url.Parse(res.Ledger)
	if err != nil {
		t.Fatal(err)
	}
	schema := u.Query().Get("search_path")
	if !strings.HasPrefix(schema, "herald_bench_") {
		t.Fatalf("ledger %s is not a fresh bench schema", res.Ledger)
	}
	db, err := sql.Open("pgx", dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var count int
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := db.QueryRowContext(ctx, "SELECT count(*) FROM information_schema.schemata WHERE schema_name = $1", schema).Scan(&count); err != nil {
		t.Fatal(err)
	}
	if count != 0 {
		t.Errorf("schema %s still exists after the run", schema)
	}
}
