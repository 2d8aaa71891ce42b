package main

// Tests that run several `herald worker` OS processes against the real
// Redis and PostgreSQL (HERALD_TEST_REDIS_URL, HERALD_TEST_DATABASE_URL):
// campaign controls across processes (issue 3) and scale-out (issue 4). The
// harness is in multiproc_helpers_test.go.

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/heraldhq/herald/dispatcher"
)

// Diagnostics the ledger records for a cancelled delivery: the bulk cancel
// of `herald campaign cancel` (store.CancelUnsent), and a worker that finds
// the campaign cancelled when it takes a job whose delivery the bulk
// cancel did not see (a fallback planned after it).
const (
	diagBulkCancel   = "campaign cancelled"
	diagWorkerCancel = "campaign cancelled before sending"
)

// TestMultiProcessPauseResumeCancel drives pause, resume and cancel through
// the CLI while three `herald worker` processes send a campaign, and proves
// from the ledger and from what the SMTP server and the Twilio double
// received that: each control takes effect on every worker within a second
// or so; paused jobs wait in Redis without using up retries; resume
// continues where it stopped; cancel marks every unsent delivery cancelled;
// nothing is sent twice and no contact is lost.
//
// Every 20th mailbox does not exist, so some contacts fall back to SMS
// while the campaign is paused or being cancelled.
func TestMultiProcessPauseResumeCancel(t *testing.T) {
	const (
		n           = 600
		procs       = 3
		concurrency = 2
		// About 100 e-mails/s across the three processes: a control
		// lands with most of the campaign still to send.
		sendDelay = 50 * time.Millisecond
		// A worker reads a campaign's status through a cache of 1 s
		// (dispatcher.Worker.CacheTTL); sends already past that check
		// finish. After settle nothing more may be sent; the delay of the
		// last send is logged.
		settle = 2 * time.Second
		quiet  = 2 * time.Second
		// A paused job sleeps PauseSnooze (2 s) in asynq's retry set,
		// which `herald worker` checks for due jobs every 5 s (asynq's
		// default DelayedTaskCheckInterval): resume takes effect within
		// about 7 s, not within a second like pause and cancel.
		resumeBound = 10 * time.Second
	)
	path, mails := mpContacts(t, "prc", n)
	dead := map[string]bool{}
	var deadList []string
	for i := 20; i <= n; i += 20 {
		dead[mails[i-1]] = true
		deadList = append(deadList, mails[i-1])
	}
	h := newMPHarness(t, mpOptions{sendDelay: sendDelay, deadMailboxes: deadList})
	ctx := context.Background()

	h.herald("campaign", "create", "--name", "prc", "--incident", "INC-3", "--locale", "nb", "--templates", "demotemplates",
		"--from", "hr@clinic.example", "--from-name", "Klinikk HR", "--sms-from", "Klinikk", "--quiet-hours", "off", "--no-guard")
	out := h.herald("import", "--campaign", "prc", "--rejects", filepath.Join(t.TempDir(), "rejects.csv"), path)
	if want := fmt.Sprintf("accepted %d, rejected 0", n); !strings.Contains(out, want) {
		t.Fatalf("import said %q, want %q", out, want)
	}
	camp := h.campaign("prc")
	ws := h.startWorkers(procs, concurrency)
	h.herald("campaign", "launch", "prc")

	// Pause a quarter of the way in.
	wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := h.mta.WaitFor(wctx, n/4); err != nil {
		t.Fatal(err)
	}
	if out := h.herald("campaign", "pause", "prc"); !strings.Contains(out, "campaign prc is paused") {
		t.Fatalf("pause said %q", out)
	}
	pausedAt := time.Now()
	// Every process was sending when the pause landed, so its stop below
	// is the stop of all of them.
	for _, w := range ws {
		if logLines(t, w, `"msg":"job done"`) == 0 {
			t.Errorf("%s had done no job when the campaign was paused", w.name)
		}
	}
	pEmail, pSMS := h.assertStops("pause", pausedAt, settle, quiet)
	if pEmail >= n-len(dead) {
		t.Fatalf("all %d e-mails went out before the pause took effect: the test would prove nothing (slow the sink)", pEmail)
	}

	// While paused, the jobs wait in Redis's retry set, snoozed, and none
	// has used up a retry: a snooze is not a failure. A snoozed job comes
	// back to the queue every PauseSnooze to look again, so the retry set
	// is read a few times.
	var retry []*asynq.TaskInfo
	for range 10 {
		var err error
		if retry, err = h.insp.ListRetryTasks(h.b.QueueName(dispatcher.Email), asynq.PageSize(n)); err != nil {
			t.Fatal(err)
		}
		if len(retry) > 0 {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if len(retry) == 0 {
		t.Errorf("no job waiting in the retry set while paused: the pause was not exercised")
	}
	for _, ti := range retry {
		if ti.Retried != 0 || !strings.Contains(ti.LastErr, "campaign paused") {
			t.Errorf("paused job %s: retried %d of %d, last error %q; want 0 retries used, snoozed because the campaign is paused", ti.ID, ti.Retried, ti.MaxRetry, ti.LastErr)
			break
		}
	}
	// The ledger and the servers agree at the pause point.
	sentAtPause := map[dispatcher.ChannelKind]int{}
	for _, d := range h.deliveries(camp.ID) {
		if d.State == dispatcher.StateSent {
			sentAtPause[d.Channel]++
		}
		if d.State == dispatcher.StateSending {
			t.Errorf("delivery %d still sending %s after the pause", d.ID, quiet)
		}
	}
	if sentAtPause[dispatcher.Email] != pEmail || sentAtPause[dispatcher.SMS] != pSMS {
		t.Errorf("paused: ledger has %d e-mails and %d SMS sent, the servers received %d and %d", sentAtPause[dispatcher.Email], sentAtPause[dispatcher.SMS], pEmail, pSMS)
	}
	t.Logf("paused with %d e-mails and %d SMS sent; %d jobs snoozed in Redis", pEmail, pSMS, len(retry))

	// Resume: the snoozed jobs come back (within PauseSnooze plus asynq's
	// 5 s check of due retries) and sending continues.
	if out := h.herald("campaign", "resume", "prc"); !strings.Contains(out, "campaign prc is running") {
		t.Fatalf("resume said %q", out)
	}
	resumedAt := time.Now()
	wctx, cancel = context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := h.mta.WaitFor(wctx, pEmail+1); err != nil {
		t.Fatalf("nothing sent after resume: %v", err)
	}
	resumeDelay := time.Since(resumedAt)
	t.Logf("resume: first e-mail %v after the command returned", resumeDelay.Round(time.Millisecond))
	if resumeDelay > resumeBound {
		t.Errorf("resume took %v to send again, want at most %v", resumeDelay, resumeBound)
	}
	if err := h.mta.WaitFor(wctx, pEmail+n/5); err != nil {
		t.Fatal(err)
	}

	// Cancel mid-way.
	out = h.herald("campaign", "cancel", "prc")
	cancelledAt := time.Now()
	m := regexp.MustCompile(`(\d+) unsent deliveries cancelled`).FindStringSubmatch(out)
	if m == nil || !strings.Contains(out, "campaign prc is cancelled") {
		t.Fatalf("cancel said %q", out)
	}
	printed, _ := strconv.Atoi(m[1])
	if printed == 0 {
		t.Fatalf("cancel found nothing unsent: the campaign finished before it and the test proves nothing (slow the sink)")
	}
	h.assertStops("cancel", cancelledAt, settle, quiet)
	h.waitFinished(camp.ID, 30*time.Second)
	// Every job left in Redis (the snoozed ones too) finds its delivery
	// final and drops itself; none was given up.
	h.poll(20*time.Second, "queue drains after cancel", func() (bool, error) {
		waiting, archived, err := h.queueDepth()
		if archived > 0 {
			return false, fmt.Errorf("%d jobs archived (given up) in Redis", archived)
		}
		return waiting == 0, err
	})
	h.stopWorkers(ws)

	// The accounting, from the servers and from the ledger.
	gotMail, gotSMS := map[string]int{}, map[string]int{}
	for _, msg := range h.mta.Messages() {
		for _, to := range msg.To {
			gotMail[to]++
		}
	}
	for _, msg := range h.tw.Messages() {
		gotSMS[msg.To]++
	}
	for to, c := range gotMail {
		if c != 1 {
			t.Errorf("%s received %d e-mails", to, c)
		}
	}
	for to, c := range gotSMS {
		if c != 1 {
			t.Errorf("%s received %d SMS", to, c)
		}
	}

	ds := h.deliveries(camp.ID)
	perContact := map[int64][]dispatcher.Delivery{}
	states := map[dispatcher.State]int{}
	sentTo := map[dispatcher.ChannelKind]map[string]bool{dispatcher.Email: {}, dispatcher.SMS: {}}
	bulkCancelled, workerCancelled := 0, 0
	for _, d := range ds {
		perContact[d.ContactID] = append(perContact[d.ContactID], d)
		states[d.State]++
		switch d.State {
		case dispatcher.StateSent:
			sentTo[d.Channel][d.Address] = true
		case dispatcher.StateBouncedHard:
			if d.Channel != dispatcher.Email || !dead[d.Address] {
				t.Errorf("delivery %d (%s) bounced, but only the dead mailboxes should", d.ID, d.Channel)
			}
		case dispatcher.StateCancelled:
			switch d.Diagnostic {
			case diagBulkCancel:
				bulkCancelled++
			case diagWorkerCancel:
				workerCancelled++
			default:
				t.Errorf("cancelled delivery %d has diagnostic %q", d.ID, d.Diagnostic)
			}
		default:
			t.Errorf("delivery %d (%s) ended %s, want sent, bounced_hard or cancelled: %s", d.ID, d.Channel, d.State, d.Diagnostic)
		}
	}
	// What the ledger says was sent is exactly what the servers received.
	if len(sentTo[dispatcher.Email]) != len(gotMail) || len(sentTo[dispatcher.SMS]) != len(gotSMS) ||
		h.mta.Count() != len(gotMail) || h.tw.Count() != len(gotSMS) {
		t.Errorf("ledger: %d e-mails and %d SMS sent; servers: %d e-mails to %d recipients, %d SMS to %d numbers",
			len(sentTo[dispatcher.Email]), len(sentTo[dispatcher.SMS]), h.mta.Count(), len(gotMail), h.tw.Count(), len(gotSMS))
	}
	for addr := range sentTo[dispatcher.Email] {
		if gotMail[addr] != 1 {
			t.Errorf("ledger says an e-mail was sent to %s; the server received %d", addr, gotMail[addr])
		}
	}
	for num := range sentTo[dispatcher.SMS] {
		if gotSMS[num] != 1 {
			t.Errorf("ledger says an SMS was sent to %s; the double received %d", num, gotSMS[num])
		}
	}
	// Sent, bounced and cancelled account for every delivery: the
	// cancelled ones are exactly the unsent remainder.
	sent := states[dispatcher.StateSent]
	if sent+states[dispatcher.StateBouncedHard]+states[dispatcher.StateCancelled] != len(ds) {
		t.Errorf("sent %d + bounced %d + cancelled %d ≠ %d deliveries (%v)", sent, states[dispatcher.StateBouncedHard], states[dispatcher.StateCancelled], len(ds), states)
	}
	// The count cancel printed is the ledger's bulk-cancelled deliveries;
	// the only other cancelled ones are fallbacks planned after it, which
	// a worker cancelled when it took their job.
	if printed != bulkCancelled || bulkCancelled+workerCancelled != states[dispatcher.StateCancelled] {
		t.Errorf("cancel printed %d; the ledger has %d cancelled, %d by the cancel command and %d by workers", printed, states[dispatcher.StateCancelled], bulkCancelled, workerCancelled)
	}
	// No contact lost: each of the n has deliveries, at most one was sent,
	// and one with none sent has a cancelled one (it was not told because
	// the campaign was cancelled, and the report can say so).
	if len(perContact) != n {
		t.Errorf("%d contacts have deliveries, want %d", len(perContact), n)
	}
	for id, cds := range perContact {
		var nSent, nCancelled int
		for _, d := range cds {
			switch d.State {
			case dispatcher.StateSent:
				nSent++
			case dispatcher.StateCancelled:
				nCancelled++
			}
		}
		if nSent > 1 || (nSent == 0 && nCancelled == 0) {
			t.Errorf("contact %d: %d deliveries sent, %d cancelled: %v", id, nSent, nCancelled, cds)
		}
	}
	rep, err := h.st.Report(ctx, camp.ID)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Contacts != n || rep.InProgress != 0 || rep.Reached != int64(sent) {
		t.Errorf("report: contacts %d, in progress %d, reached %d; want %d, 0, %d", rep.Contacts, rep.InProgress, rep.Reached, n, sent)
	}
	if c, err := h.st.Campaign(ctx, camp.ID); err != nil || c.Status != dispatcher.CampaignCancelled {
		t.Errorf("campaign after cancel: %v %v", c, err)
	}
	if len(gotSMS) == 0 {
		t.Errorf("no SMS fallback happened: the dead mailboxes did not exercise it")
	}
	t.Logf("%d contacts, %d deliveries: %d e-mails and %d SMS sent, %d bounced, %d cancelled (cancel printed %d; %d fallbacks cancelled by workers)",
		n, len(ds), len(gotMail), len(gotSMS), states[dispatcher.StateBouncedHard], states[dispatcher.StateCancelled], printed, workerCancelled)
	assertNoPIIInLogs(t, ws, "@mp.example.no", "Prosessdottir", "+4741")
}

// TestMultiProcessScaleOut sends a campaign with 1, 2 and then 4 `herald
// worker` processes sharing the real Redis and PostgreSQL, checks every
// time that the processes split the work with no duplicate and nothing
// lost, and logs the throughput.
//
// The SMTP server takes scaleSendDelay per message and each process sends
// scaleConcurrency at once, so one process alone is bound by that latency
// and more processes should send proportionally faster until the machine
// (CPU, PostgreSQL, Redis, the sink) saturates. On a 2-core machine that
// also runs PostgreSQL, Redis, the sink and this test, four processes cannot
// be twice as fast as two: the figures are logged, never asserted.
// HERALD_TEST_SCALE_CONTACTS sets the campaign size (default 400, what CI
// runs); use a few thousand for a measurement.
func TestMultiProcessScaleOut(t *testing.T) {
	const (
		scaleSendDelay   = 40 * time.Millisecond
		scaleConcurrency = 4
	)
	n := 400
	if v := os.Getenv("HERALD_TEST_SCALE_CONTACTS"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil || n < 10 {
			t.Fatalf("HERALD_TEST_SCALE_CONTACTS=%q: want a number of contacts, at least 10", v)
		}
	}
	h := newMPHarness(t, mpOptions{sendDelay: scaleSendDelay})
	ctx := context.Background()
	var oneProc float64
	var summary []string
	for _, procs := range []int{1, 2, 4} {
		name := fmt.Sprintf("scale%d", procs)
		path, mails := mpContacts(t, name, n)
		h.herald("campaign", "create", "--name", name, "--channels", "email", "--locale", "nb", "--templates", "demotemplates",
			"--from", "hr@clinic.example", "--quiet-hours", "off", "--no-guard")
		h.herald("import", "--campaign", name, "--rejects", filepath.Join(t.TempDir(), "rejects.csv"), path)
		camp := h.campaign(name)
		ws := h.startWorkers(procs, scaleConcurrency)
		before := h.mta.Count()
		start := time.Now()
		h.herald("campaign", "launch", name)
		h.waitFinished(camp.ID, 120*time.Second)
		elapsed := time.Since(start)
		h.stopWorkers(ws)

		// Every recipient got exactly one message; nobody else got one.
		msgs := h.mta.Messages()[before:]
		got := map[string]int{}
		for _, m := range msgs {
			for _, to := range m.To {
				got[to]++
			}
		}
		dups := 0
		for to, c := range got {
			if c != 1 {
				dups++
				t.Errorf("%d processes: %s received %d messages", procs, to, c)
			}
		}
		for _, mail := range mails {
			if got[mail] == 0 {
				t.Errorf("%d processes: %s received nothing", procs, mail)
			}
		}
		if len(msgs) != n || len(got) != n {
			t.Errorf("%d processes: %d messages to %d recipients, want %d each", procs, len(msgs), len(got), n)
		}
		// The ledger agrees: all sent, each to its own address.
		sentTo := map[string]bool{}
		for _, d := range h.deliveries(camp.ID) {
			if d.State != dispatcher.StateSent {
				t.Errorf("%d processes: delivery %d ended %s: %s", procs, d.ID, d.State, d.Diagnostic)
				continue
			}
			sentTo[d.Address] = true
		}
		if len(sentTo) != n {
			t.Errorf("%d processes: the ledger has %d addresses sent, want %d", procs, len(sentTo), n)
		}
		if rep, err := h.st.Report(ctx, camp.ID); err != nil || rep.Reached != int64(n) || rep.InProgress != 0 {
			t.Errorf("%d processes: report %+v, %v", procs, rep, err)
		}
		// Each process took a share.
		shares := make([]int, len(ws))
		for i, w := range ws {
			shares[i] = logLines(t, w, `"msg":"job done"`)
			if shares[i] == 0 {
				t.Errorf("%d processes: %s did no job", procs, w.name)
			}
		}
		assertNoPIIInLogs(t, ws, "@mp.example.no", "Prosessdottir", "+4741")

		// Throughput: end to end (launch, which enqueues, to the last
		// delivery recorded) and at the sink (first to last message).
		// The longest pause between two messages tells a stall (a process
		// waiting on something) from a uniformly slow machine.
		at := make([]time.Time, len(msgs))
		for i, m := range msgs {
			at[i] = m.At
		}
		slices.SortFunc(at, time.Time.Compare)
		var gap time.Duration
		for i := 1; i < len(at); i++ {
			gap = max(gap, at[i].Sub(at[i-1]))
		}
		e2e := float64(n) / elapsed.Seconds()
		sink := float64(len(at)-1) / at[len(at)-1].Sub(at[0]).Seconds()
		if procs == 1 {
			oneProc = sink
		}
		line := fmt.Sprintf("%d process(es) × concurrency %d: %d notices in %.2fs, %.0f/s end to end, %.0f/s at the sink (%.2f× one process, longest gap %v), %d duplicates, jobs per process %v",
			procs, scaleConcurrency, n, elapsed.Seconds(), e2e, sink, sink/oneProc, gap.Round(time.Millisecond), dups, shares)
		summary = append(summary, line)
		t.Log(line)
	}
	bound := float64(scaleConcurrency) / scaleSendDelay.Seconds()
	t.Logf("scale-out summary (sink latency %s, so one process is bound at ~%.0f/s; %d CPUs here, shared with PostgreSQL, Redis, the sink and this test, so scaling past %d processes cannot be linear on this machine):\n%s",
		scaleSendDelay, bound, runtime.NumCPU(), runtime.NumCPU(), strings.Join(summary, "\n"))
}
