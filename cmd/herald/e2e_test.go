package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/heraldhq/herald/channels/email"
	"github.com/heraldhq/herald/channels/sms"
	"github.com/heraldhq/herald/channels/smtpd"
	"github.com/heraldhq/herald/channels/twiliodouble"
	"github.com/heraldhq/herald/dispatcher"
	"github.com/heraldhq/herald/internal/testenv"
	"github.com/heraldhq/herald/queue"
	"github.com/heraldhq/herald/store/storetest"
)

// env is a fake environment for run.
type env map[string]string

func (e env) get(k string) string { return e[k] }

// herald runs one CLI command in-process and returns its exit code and
// output.
func herald(t *testing.T, e env, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(context.Background(), args, &out, &errb, e.get)
	return code, out.String(), errb.String()
}

func mustHerald(t *testing.T, e env, args ...string) string {
	t.Helper()
	code, out, errOut := herald(t, e, args...)
	if code != 0 {
		t.Fatalf("herald %s: exit %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), code, out, errOut)
	}
	return out
}

// e2eContacts writes n synthetic contacts and returns the file, the
// mailboxes the SMTP server must reject and the numbers Twilio must.
type e2eList struct {
	path       string
	dead       []string
	badNumbers map[string]bool
	pii        []string // every name, address and number, to look for where none may be
	noEmail    int
}

func writeE2EList(t *testing.T, n int) e2eList {
	t.Helper()
	l := e2eList{path: filepath.Join(t.TempDir(), "affected.csv"), badNumbers: map[string]bool{}}
	var b strings.Builder
	b.WriteString("ansattnr;navn;e-post;mobil;land;språk;rolle\n")
	for i := 1; i <= n; i++ {
		name := fmt.Sprintf("Ågot Ødegård %d", i)
		mail := fmt.Sprintf("agot.odegard.%d@example.no", i)
		phone := fmt.Sprintf("+47 4%07d", 1000000+i)
		e164 := strings.ReplaceAll(phone, " ", "")
		switch {
		case i%50 == 0:
			mail = ""
			l.noEmail++
		case i%10 == 0:
			l.dead = append(l.dead, mail)
		}
		if i%70 == 0 {
			l.badNumbers[e164] = true
		}
		fmt.Fprintf(&b, "E%05d;%s;%s;%s;NO;nb;tidligere ansatt\n", i, name, mail, phone)
		l.pii = append(l.pii, name, e164)
		if mail != "" {
			l.pii = append(l.pii, mail)
		}
	}
	if err := os.WriteFile(l.path, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	return l
}

// TestEndToEnd runs a whole campaign through the CLI and four workers:
// on embedded SQLite and Redis always, and on PostgreSQL and real Redis
// when they are configured.
func TestEndToEnd(t *testing.T) {
	t.Run("embedded", func(t *testing.T) {
		testEndToEnd(t, env{"HERALD_DATABASE_URL": filepath.Join(t.TempDir(), "herald.db")}, 600)
	})
	t.Run("postgres+redis", func(t *testing.T) {
		redisURL := testenv.RedisURL(t)
		e := env{
			"HERALD_DATABASE_URL":    storetest.PostgresURL(t),
			"HERALD_REDIS_URL":       redisURL,
			"HERALD_QUEUE_NAMESPACE": "e2e" + randHex(t, 4) + ":",
		}
		testEndToEnd(t, e, 2000)
	})
}

func testEndToEnd(t *testing.T, e env, n int) {
	ctx := context.Background()
	list := writeE2EList(t, n)
	e["HERALD_LOG_LEVEL"] = "debug"
	e["HERALD_ACTOR"] = "e2e"

	mta, err := smtpd.Start(smtpd.Options{UnknownUsers: list.dead})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { mta.Close() })
	numbers := map[string]twiliodouble.Behavior{}
	for num := range list.badNumbers {
		numbers[num] = twiliodouble.Behavior{Reject: twiliodouble.CodeInvalidTo}
	}
	tw, err := twiliodouble.Start(twiliodouble.Options{Numbers: numbers})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tw.Close() })

	mustHerald(t, e, "campaign", "create", "--name", "e2e", "--incident", "INC-1", "--locale", "nb",
		"--templates", "demotemplates", "--from", "hr@clinic.example", "--from-name", "Klinikk HR", "--sms-from", "Klinikk", "--guard-hard-bounce", "20%", "--quiet-hours", "off")
	out := mustHerald(t, e, "import", "--campaign", "e2e", "--rejects", filepath.Join(t.TempDir(), "rejects.csv"), list.path)
	if want := fmt.Sprintf("read %d, accepted %d, rejected 0, duplicates 0", n, n); !strings.Contains(out, want) {
		t.Fatalf("import said %q, want %q", out, want)
	}
	mustHerald(t, e, "campaign", "launch", "e2e")

	// The worker side, wired as `herald worker` wires it, with four
	// queue workers and the channels pointed at the local servers.
	var logs syncBuffer
	a := &app{stdout: &logs, stderr: &logs, getenv: e.get}
	if err := a.init(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(a.close)
	st, err := a.store(ctx)
	if err != nil {
		t.Fatal(err)
	}
	b, err := a.connect(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !b.Embedded() {
		// What a worker's feeder hands Redis first: a window of jobs
		// carrying every delivery of this small campaign.
		fed, err := (&dispatcher.Feeder{Store: st, Queue: queue.NewClient(b, queue.ClientConfig{})}).Feed(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if fed.Deliveries != n {
			t.Fatalf("the first feed handed over %d deliveries in %d jobs, want one per contact (%d)", fed.Deliveries, fed.Jobs, n)
		}
		assertNoPIIInRedis(t, b.Redis(), e["HERALD_QUEUE_NAMESPACE"], list.pii, fed.Jobs)
	}
	emailCh, err := email.New(email.Config{Host: mta.Host(), Port: mta.Port(), TLS: email.TLSNone, PoolSize: 8})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { emailCh.Close() })
	smsCh, err := sms.New(sms.Config{AccountSID: tw.AccountSID(), AuthToken: tw.AuthToken(), BaseURL: tw.URL()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { smsCh.Close() })
	chans := map[dispatcher.ChannelKind]dispatcher.Channel{dispatcher.Email: emailCh, dispatcher.SMS: smsCh}
	a.pollInterval, a.retryBase = 50*time.Millisecond, 200*time.Millisecond
	wctx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		if err := runWorkers(wctx, a, st, b, chans, 4, 10, 300*time.Millisecond); err != nil {
			t.Errorf("workers: %v", err)
		}
	}()
	camp, err := st.CampaignByName(ctx, "e2e")
	if err != nil {
		t.Fatal(err)
	}
	err = waitCompleted(ctx, st, camp.ID, 90*time.Second)
	stop()
	wg.Wait()
	if err != nil {
		t.Fatal(err)
	}

	// Every delivery is final.
	if left, err := st.CountUnfinished(ctx, camp.ID); err != nil || left != 0 {
		t.Fatalf("%d deliveries unfinished (%v)", left, err)
	}

	// What the report says, through the CLI.
	var rep reportJSON
	if err := json.Unmarshal([]byte(mustHerald(t, e, "report", "e2e", "--format", "json")), &rep); err != nil {
		t.Fatal(err)
	}
	wantEmail := int64(n - list.noEmail - len(list.dead))
	var wantSMS, wantUnreachable int64
	for i := 1; i <= n; i++ {
		emailOK := i%50 != 0 && i%10 != 0
		if emailOK {
			continue
		}
		if i%70 == 0 {
			wantUnreachable++
		} else {
			wantSMS++
		}
	}
	if rep.Contacts != int64(n) || rep.ReachedBy[dispatcher.Email] != wantEmail || rep.ReachedBy[dispatcher.SMS] != wantSMS ||
		rep.Unreachable != wantUnreachable || rep.InProgress != 0 || rep.Reached+rep.Unreachable != rep.Contacts {
		t.Errorf("report %+v; want contacts %d, email %d, sms %d, unreachable %d", rep.Report, n, wantEmail, wantSMS, wantUnreachable)
	}
	if rep.Fallback != int64(len(list.dead))-countDeadWithBadNumber(n) {
		t.Errorf("fallback %d, want %d", rep.Fallback, int64(len(list.dead))-countDeadWithBadNumber(n))
	}

	// The SMTP server received exactly one message per contact reached by
	// e-mail, and none for a dead mailbox.
	got := map[string]int{}
	for _, m := range mta.Messages() {
		for _, to := range m.To {
			got[to]++
		}
	}
	if int64(len(got)) != wantEmail || int64(mta.Count()) != wantEmail {
		t.Errorf("SMTP server got %d messages for %d recipients, want %d each", mta.Count(), len(got), wantEmail)
	}
	for to, c := range got {
		if c != 1 {
			t.Errorf("%s received %d messages", to, c)
		}
	}
	for _, d := range list.dead {
		if got[d] != 0 {
			t.Errorf("dead mailbox %s received a message", d)
		}
	}
	smsTo := map[string]int{}
	for _, m := range tw.Messages() {
		smsTo[m.To]++
	}
	if int64(len(smsTo)) != wantSMS {
		t.Errorf("Twilio double got messages for %d numbers, want %d", len(smsTo), wantSMS)
	}
	for to, c := range smsTo {
		if c != 1 {
			t.Errorf("%s received %d SMS", to, c)
		}
	}

	// Support lookup of a fallback contact shows both deliveries.
	out = mustHerald(t, e, "status", "agot.odegard.10@example.no")
	for _, want := range []string{"email to agot.odegard.10@example.no: bounced_hard", "550 5.1.1", "sms to +4741000010: sent"} {
		if !strings.Contains(out, want) {
			t.Errorf("status output lacks %q:\n%s", want, out)
		}
	}

	// No personal data in the worker's logs (debug level included).
	logText := logs.String()
	if !strings.Contains(logText, "level=") {
		t.Fatalf("no logs captured; the check below would prove nothing")
	}
	for _, p := range list.pii {
		if strings.Contains(logText, p) {
			t.Fatalf("worker logs contain personal data %q", p)
		}
	}
}

func countDeadWithBadNumber(n int) int64 {
	var c int64
	for i := 10; i <= n; i += 10 {
		if i%50 != 0 && i%70 == 0 {
			c++
		}
	}
	return c
}

// syncBuffer is a bytes.Buffer safe for the workers' concurrent logging.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func randHex(t *testing.T, n int) string {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}
