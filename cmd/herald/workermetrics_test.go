package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald/dispatcher"
)

// TestLatencySummary: quantiles from merged histograms land in the right
// bucket and interpolate within it.
func TestLatencySummary(t *testing.T) {
	m1, m2 := newWorkerMetrics(), newWorkerMetrics()
	// 900 sends of about 1 ms in one worker, 100 of about 50 ms in the other.
	for range 900 {
		m1.ObserveSend(dispatcher.Email, dispatcher.StateSent, time.Millisecond)
	}
	for range 100 {
		m2.ObserveSend(dispatcher.Email, dispatcher.StateSent, 50*time.Millisecond)
	}
	var lists []string
	for _, m := range []*workerMetrics{m1, m2} {
		var buf bytes.Buffer
		m.summary(slog.New(slog.NewJSONHandler(&buf, nil)))
		var rec struct {
			Msg     string `json:"msg"`
			Sends   int64  `json:"sends"`
			Buckets string `json:"buckets"`
		}
		if err := json.Unmarshal(buf.Bytes(), &rec); err != nil || rec.Msg != sendSummaryMsg || rec.Buckets == "" {
			t.Fatalf("summary %q: %v", buf.String(), err)
		}
		lists = append(lists, rec.Buckets)
	}
	qs, n, err := latencySummary(lists, 0.5, 0.95, 0.99)
	if err != nil || n != 1000 {
		t.Fatalf("n %d, %v", n, err)
	}
	within := func(d, want time.Duration) bool { return d > want*2/3 && d <= want*3/2 }
	if !within(qs[0], time.Millisecond) || !within(qs[1], 50*time.Millisecond) || !within(qs[2], 50*time.Millisecond) {
		t.Errorf("p50 %v, p95 %v, p99 %v; want about 1 ms, 50 ms, 50 ms", qs[0], qs[1], qs[2])
	}
	if _, _, err := latencySummary([]string{"x:1"}); err == nil {
		t.Error("a malformed bucket list was accepted")
	}
}

// TestWorkerMetricsServe: the worker's /metrics shows sends by outcome
// and the duration histogram.
func TestWorkerMetricsServe(t *testing.T) {
	m := newWorkerMetrics()
	m.ObserveSend(dispatcher.SMS, dispatcher.StateBouncedHard, 3*time.Millisecond)
	ctx, cancel := context.WithCancel(context.Background())
	var logs syncBuffer
	done := make(chan error, 1)
	go func() { done <- m.serve(ctx, "127.0.0.1:0", slog.New(slog.NewJSONHandler(&logs, nil))) }()
	var addr string
	for range 100 {
		if i := strings.Index(logs.String(), `"addr":"`); i >= 0 {
			addr = strings.SplitN(logs.String()[i+8:], `"`, 2)[0]
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if addr == "" {
		t.Fatalf("no address logged: %s", logs.String())
	}
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{`herald_sends_total{channel="sms",outcome="bounced_hard"} 1`, `herald_send_duration_seconds_count{channel="sms"} 1`, "go_goroutines"} {
		if !strings.Contains(string(body), want) {
			t.Errorf("metrics lack %q", want)
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}
