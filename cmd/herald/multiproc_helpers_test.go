package main

// The harness of the multi-process tests (multiproc_test.go). Each test gets
// a fresh PostgreSQL schema, a queue namespace of its own in the real Redis,
// an SMTP server and a Twilio double in this process, and as many
// `herald worker` OS processes against them as it asks for. The worker
// processes are this test binary re-executed: TestMain (bench_test.go) runs
// herald's main instead of the tests when benchChildEnv is set, so no build
// is needed and the workers run exactly the code under test.

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
	"github.com/hibiken/asynq"

	"github.com/heraldhq/herald/channels/smtpd"
	"github.com/heraldhq/herald/channels/twiliodouble"
	"github.com/heraldhq/herald/dispatcher"
	"github.com/heraldhq/herald/internal/testenv"
	"github.com/heraldhq/herald/queue"
	"github.com/heraldhq/herald/store"
	"github.com/heraldhq/herald/store/storetest"
)

// mpOptions shape a harness.
type mpOptions struct {
	// sendDelay is how long the SMTP server takes to accept each message:
	// the provider's round trip, which bounds what one worker process can
	// send and makes a control land mid-campaign.
	sendDelay time.Duration
	// deadMailboxes are rejected at RCPT TO with 550 5.1.1 (hard bounce).
	deadMailboxes []string
}

// mpHarness is one shared installation: one ledger, one Redis namespace,
// one SMTP server, one Twilio double, and the worker processes started
// against them.
type mpHarness struct {
	t    *testing.T
	cli  env               // the environment of CLI commands run in this process
	wenv map[string]string // the environment of worker processes
	ns   string
	dir  string // worker logs
	st   *store.DB
	b    *queue.Backend
	insp *asynq.Inspector
	mta  *smtpd.Server
	tw   *twiliodouble.Server
	seq  int // worker processes started so far, for their names
}

// newMPHarness sets up the services, skipping the test when the real Redis
// or PostgreSQL is not configured (testenv's rules).
func newMPHarness(t *testing.T, opt mpOptions) *mpHarness {
	t.Helper()
	redisURL := testenv.RedisURL(t)
	dbURL := storetest.PostgresURL(t) // a fresh schema, dropped at the end
	ctx := context.Background()
	h := &mpHarness{t: t, ns: "mp" + randHex(t, 4) + ":", dir: t.TempDir()}

	delay := opt.sendDelay
	mta, err := smtpd.Start(smtpd.Options{
		UnknownUsers: opt.deadMailboxes,
		DataHook: func(string, []string, []byte) *smtp.SMTPError {
			time.Sleep(delay) // the provider's latency, not a wait of the test
			return nil
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { mta.Close() })
	h.mta = mta
	tw, err := twiliodouble.Start(twiliodouble.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tw.Close() })
	h.tw = tw

	h.cli = env{
		"HERALD_DATABASE_URL":    dbURL,
		"HERALD_REDIS_URL":       redisURL,
		"HERALD_QUEUE_NAMESPACE": h.ns,
		"HERALD_ACTOR":           "multiproc-test",
	}
	h.wenv = map[string]string{
		benchChildEnv:               "1", // TestMain runs herald's main
		"HERALD_DATABASE_URL":       dbURL,
		"HERALD_REDIS_URL":          redisURL,
		"HERALD_QUEUE_NAMESPACE":    h.ns,
		"HERALD_SMTP_HOST":          mta.Host(),
		"HERALD_SMTP_PORT":          strconv.Itoa(mta.Port()),
		"HERALD_SMTP_TLS":           "none",
		"HERALD_TWILIO_ACCOUNT_SID": tw.AccountSID(),
		"HERALD_TWILIO_AUTH_TOKEN":  tw.AuthToken(),
		"HERALD_TWILIO_API_URL":     tw.URL(),
		"HERALD_LOG_LEVEL":          "debug", // "job done" per job, and the PII check covers every level
		"HERALD_LOG_FORMAT":         "json",  // workerReadyMarker is the JSON form
		"HERALD_ACTOR":              "multiproc-test",
	}

	// The test's own view of the ledger and of Redis.
	h.st, err = store.Open(ctx, dbURL, store.WithMaxConns(4))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.st.Close() })
	h.b, err = queue.Connect(ctx, redisURL, queue.WithNamespace(h.ns))
	if err != nil {
		t.Fatal(err)
	}
	h.insp = asynq.NewInspectorFromRedisClient(h.b.Redis())
	t.Cleanup(func() {
		// Runs after every worker process is gone (cleanups run last
		// registered first): nothing of the namespace is left in Redis.
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if _, err := deleteQueueKeys(ctx, h.b, h.ns); err != nil {
			t.Errorf("delete queue keys of %s: %v", h.ns, err)
		}
		h.b.Close()
	})
	return h
}

// herald runs a CLI command in this process against the harness's ledger
// and Redis, failing the test if it fails.
func (h *mpHarness) herald(args ...string) string {
	h.t.Helper()
	return mustHerald(h.t, h.cli, args...)
}

// campaign returns a campaign from the ledger by name.
func (h *mpHarness) campaign(name string) *dispatcher.Campaign {
	h.t.Helper()
	c, err := h.st.CampaignByName(context.Background(), name)
	if err != nil {
		h.t.Fatal(err)
	}
	return c
}

// mpAllStates is every delivery state, for paging through a whole campaign.
var mpAllStates = []dispatcher.State{
	dispatcher.StatePending, dispatcher.StateQueued, dispatcher.StateSending, dispatcher.StateSent,
	dispatcher.StateDelivered, dispatcher.StateBouncedHard, dispatcher.StateBouncedSoft, dispatcher.StateFailed,
	dispatcher.StateSuppressed, dispatcher.StateSkipped, dispatcher.StateCancelled,
}

// deliveries returns every delivery of a campaign, in ID order.
func (h *mpHarness) deliveries(campaignID int64) []dispatcher.Delivery {
	h.t.Helper()
	var all []dispatcher.Delivery
	var after int64
	for {
		ds, err := h.st.Deliveries(context.Background(), dispatcher.DeliveryQuery{CampaignID: campaignID, States: mpAllStates, AfterID: after, Limit: 1000})
		if err != nil {
			h.t.Fatal(err)
		}
		if len(ds) == 0 {
			return all
		}
		all = append(all, ds...)
		after = ds[len(ds)-1].ID
	}
}

// poll calls cond every interval until it reports true, and fails the test
// with what describes the wait if timeout passes first.
func (h *mpHarness) poll(timeout time.Duration, what string, cond func() (bool, error)) {
	h.t.Helper()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		ok, err := cond()
		if err != nil {
			h.t.Fatalf("%s: %v", what, err)
		}
		if ok {
			return
		}
		select {
		case <-tick.C:
		case <-deadline.C:
			h.t.Fatalf("%s: not within %s", what, timeout)
		}
	}
}

// waitFinished waits until no delivery of the campaign is pending, queued
// or sending. A delivery left unfinished is lost work: the failure names
// what is left.
func (h *mpHarness) waitFinished(campaignID int64, timeout time.Duration) {
	h.t.Helper()
	var left int64
	deadline := time.Now().Add(timeout)
	for {
		var err error
		left, err = h.st.CountUnfinished(context.Background(), campaignID)
		if err != nil {
			h.t.Fatal(err)
		}
		if left == 0 {
			return
		}
		if time.Now().After(deadline) {
			break
		}
		t := time.NewTimer(50 * time.Millisecond)
		<-t.C
	}
	var detail []string
	for _, d := range h.deliveries(campaignID) {
		if !d.State.Final() && len(detail) < 20 {
			detail = append(detail, fmt.Sprintf("delivery %d (%s seq %d) %s: %s", d.ID, d.Channel, d.Seq, d.State, d.Diagnostic))
		}
	}
	h.t.Fatalf("%d deliveries still unfinished after %s:\n%s", left, timeout, strings.Join(detail, "\n"))
}

// queueDepth sums the namespace's tasks over every channel.
func (h *mpHarness) queueDepth() (waiting, archived int, err error) {
	ds, err := h.b.Depth(context.Background())
	if err != nil {
		return 0, 0, err
	}
	for _, d := range ds {
		waiting += d.Pending + d.Active + d.Scheduled + d.Retry
		archived += d.Archived
	}
	return waiting, archived, nil
}

// counts is how many messages the SMTP server and the Twilio double
// accepted so far.
func (h *mpHarness) counts() (email, sms int) { return h.mta.Count(), h.tw.Count() }

// assertStops checks that sending stopped after a control that returned at
// at: once settle has passed (the workers' campaign cache TTL plus the sends
// already in flight), neither server accepts another message during window.
// It returns the counts at the end and logs how long after at the last
// e-mail arrived.
func (h *mpHarness) assertStops(what string, at time.Time, settle, window time.Duration) (email, sms int) {
	h.t.Helper()
	if wait := time.Until(at.Add(settle)); wait > 0 {
		t := time.NewTimer(wait) // the settle time itself is what is waited for
		<-t.C
	}
	email, sms = h.counts()
	ctx, cancel := context.WithTimeout(context.Background(), window)
	defer cancel()
	if err := h.mta.WaitFor(ctx, email+1); err == nil {
		h.t.Errorf("%s: e-mail still being sent %s after it returned (had %d, then %d)", what, settle, email, h.mta.Count())
	}
	if got := h.tw.Count(); got != sms {
		h.t.Errorf("%s: SMS still being sent %s after it returned (had %d, then %d)", what, settle, sms, got)
	}
	var last time.Time
	for _, m := range h.mta.Messages() {
		if m.At.After(last) {
			last = m.At
		}
	}
	h.t.Logf("%s: last e-mail accepted at %+v from the command's return; %d e-mails, %d SMS so far, none in the next %s",
		what, last.Sub(at).Round(time.Millisecond), email, sms, window)
	return h.counts()
}

// mpWorker is one `herald worker` process.
type mpWorker struct {
	name    string
	cmd     *exec.Cmd
	logPath string
	ready   <-chan struct{} // closed when the worker logged that it serves
	done    chan struct{}   // closed when the process has exited
	err     error           // Wait's result, valid after done
}

// startWorkers starts n worker processes of concurrency each and waits
// until every one serves its queues. They are killed, if still running,
// when the test ends, and their logs are printed if it failed.
func (h *mpHarness) startWorkers(n, concurrency int) []*mpWorker {
	h.t.Helper()
	exe, err := os.Executable()
	if err != nil {
		h.t.Fatal(err)
	}
	envm := make(map[string]string, len(h.wenv)+2)
	for k, v := range h.wenv {
		envm[k] = v
	}
	envm["HERALD_WORKER_CONCURRENCY"] = strconv.Itoa(concurrency)
	envm["HERALD_SMTP_POOL"] = strconv.Itoa(concurrency) // one connection per concurrent send
	workers := make([]*mpWorker, 0, n)
	for range n {
		h.seq++
		w := &mpWorker{name: fmt.Sprintf("worker-%d", h.seq), done: make(chan struct{})}
		w.logPath = filepath.Join(h.dir, w.name+".log")
		f, err := os.Create(w.logPath)
		if err != nil {
			h.t.Fatal(err)
		}
		mw := newMarkerWriter(f, workerReadyMarker)
		w.ready = mw.found
		w.cmd = exec.Command(exe, "worker")
		w.cmd.Env = childEnv(envm) // none of this process's HERALD_ settings
		w.cmd.Stdout, w.cmd.Stderr = mw, mw
		setParentDeathSignal(w.cmd) // no orphan if the test binary dies
		if err := w.cmd.Start(); err != nil {
			f.Close()
			h.t.Fatalf("start %s: %v", w.name, err)
		}
		go func() {
			w.err = w.cmd.Wait()
			f.Close()
			close(w.done)
		}()
		h.t.Cleanup(func() {
			select {
			case <-w.done:
			default:
				_ = w.cmd.Process.Kill()
				<-w.done
			}
			if h.t.Failed() {
				h.printLog(w)
			}
		})
		workers = append(workers, w)
	}
	deadline := time.NewTimer(60 * time.Second)
	defer deadline.Stop()
	for _, w := range workers {
		select {
		case <-w.ready:
		case <-w.done:
			h.t.Fatalf("%s exited at start: %v", w.name, w.err)
		case <-deadline.C:
			h.t.Fatalf("%s did not serve within 60s", w.name)
		}
	}
	return workers
}

// stopWorkers asks every process to stop (SIGTERM, as a supervisor does),
// waits for them, and checks that each exited cleanly; one that does not
// stop within the grace time is killed and fails the test.
func (h *mpHarness) stopWorkers(ws []*mpWorker) {
	h.t.Helper()
	for _, w := range ws {
		if err := w.cmd.Process.Signal(syscall.SIGTERM); err != nil && !errors.Is(err, os.ErrProcessDone) {
			h.t.Errorf("signal %s: %v", w.name, err)
		}
	}
	// asynq waits up to 8 s for running jobs; sends here take milliseconds.
	deadline := time.NewTimer(30 * time.Second)
	defer deadline.Stop()
	for _, w := range ws {
		select {
		case <-w.done:
			if w.err != nil {
				h.t.Errorf("%s exited with %v after SIGTERM, want status 0", w.name, w.err)
			} else if code := w.cmd.ProcessState.ExitCode(); code != 0 {
				h.t.Errorf("%s exit code %d, want 0", w.name, code)
			}
		case <-deadline.C:
			_ = w.cmd.Process.Kill()
			<-w.done
			h.t.Errorf("%s did not stop within 30s of SIGTERM and was killed", w.name)
		}
	}
}

// printLog shows the end of a worker's log (debug logs are long).
func (h *mpHarness) printLog(w *mpWorker) {
	b, err := os.ReadFile(w.logPath)
	if err != nil {
		h.t.Logf("%s log: %v", w.name, err)
		return
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	var important []string
	for _, l := range lines {
		if strings.Contains(l, `"level":"WARN"`) || strings.Contains(l, `"level":"ERROR"`) {
			important = append(important, l)
		}
	}
	important = important[max(0, len(important)-40):]
	tail := lines[max(0, len(lines)-60):]
	h.t.Logf("%s (pid %d) warnings and errors (last %d):\n%s\n%s log, last %d of %d lines:\n%s",
		w.name, w.cmd.Process.Pid, len(important), strings.Join(important, "\n"), w.name, len(tail), len(lines), strings.Join(tail, "\n"))
}

// logLines counts the lines of a worker's log that contain s.
func logLines(t *testing.T, w *mpWorker, s string) int {
	t.Helper()
	f, err := os.Open(w.logPath)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	n := 0
	for sc.Scan() {
		if strings.Contains(sc.Text(), s) {
			n++
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return n
}

// assertNoPIIInLogs fails if a worker's log holds any of the markers: the
// contacts' mail domain, surname or number prefix, which appear in no
// other string the workers could log. It also checks the logs are not
// empty, so the check cannot pass by reading nothing.
func assertNoPIIInLogs(t *testing.T, ws []*mpWorker, markers ...string) {
	t.Helper()
	for _, w := range ws {
		b, err := os.ReadFile(w.logPath)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(b), `"msg":"job done"`) {
			t.Errorf("%s logged no job at debug level: the PII check would prove nothing", w.name)
		}
		for _, m := range markers {
			if i := strings.Index(string(b), m); i >= 0 {
				t.Errorf("%s log holds personal data (%q) at byte %d", w.name, m, i)
			}
		}
	}
}

// mpContacts writes a contact list of n people whose addresses are
// <tag>.<i>@mp.example.no and numbers +4741000000+i, all named
// Prosessdottir, and returns the file and the e-mail addresses in row
// order.
func mpContacts(t *testing.T, tag string, n int) (path string, mails []string) {
	t.Helper()
	var b strings.Builder
	b.WriteString("ansattnr;navn;e-post;mobil;land;språk;rolle\n")
	for i := 1; i <= n; i++ {
		mail := fmt.Sprintf("%s.%d@mp.example.no", tag, i)
		phone := fmt.Sprintf("+474%07d", 1000000+i)
		fmt.Fprintf(&b, "M%05d;Multi Prosessdottir %d;%s;%s;NO;nb;tidligere ansatt\n", i, i, mail, phone)
		mails = append(mails, mail)
	}
	path = filepath.Join(t.TempDir(), tag+".csv")
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	return path, mails
}
