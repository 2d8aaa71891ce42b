package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	dto "github.com/prometheus/client_model/go"

	"github.com/heraldhq/herald/dispatcher"
)

// workerMetrics are a worker's own Prometheus metrics: what only the
// process that sends knows, how long a provider took to accept each
// message and how sends ended. herald serve's /metrics has the ledger's
// side (campaigns, deliveries by state, the queues).
type workerMetrics struct {
	reg      *prometheus.Registry
	sends    *prometheus.CounterVec
	duration *prometheus.HistogramVec
}

// sendBuckets are the send-duration histogram's bounds: 0.1 ms to about
// 100 s in steps of 1.5, fine enough to read a median and a 99th
// percentile from (see latencySummary).
var sendBuckets = prometheus.ExponentialBuckets(0.0001, 1.5, 35)

func newWorkerMetrics() *workerMetrics {
	m := &workerMetrics{
		reg: prometheus.NewRegistry(),
		sends: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "herald_sends_total", Help: "Sends to a provider by channel and how they ended (the delivery's state after: sent, bounced_hard, failed, suppressed, queued to retry).",
		}, []string{"channel", "outcome"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "herald_send_duration_seconds", Help: "Time from the start of a send to the provider's answer, by channel.",
			Buckets: sendBuckets,
		}, []string{"channel"}),
	}
	m.reg.MustRegister(m.sends, m.duration, collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// ObserveSend implements dispatcher.SendObserver.
func (m *workerMetrics) ObserveSend(k dispatcher.ChannelKind, outcome dispatcher.State, d time.Duration) {
	m.sends.WithLabelValues(string(k), string(outcome)).Inc()
	m.duration.WithLabelValues(string(k)).Observe(d.Seconds())
}

// serve exposes the metrics at addr until ctx ends.
func (m *workerMetrics) serve(ctx context.Context, addr string, log *slog.Logger) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("worker metrics: listen on %s: %w", addr, err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Timeout: 10 * time.Second}))
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	log.Info("worker metrics listening", "addr", ln.Addr().String())
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("worker metrics: %w", err)
	}
	return nil
}

// summary logs, per channel, how many sends there were and the send
// duration's histogram, as a compact "bound:count" list of the buckets
// that hold any (bound in microseconds, counts not cumulative). `herald
// bench` reads it from each worker's log and merges them.
func (m *workerMetrics) summary(log *slog.Logger) {
	ch := make(chan prometheus.Metric, 16)
	go func() { m.duration.Collect(ch); close(ch) }()
	for pm := range ch {
		var d dto.Metric
		if err := pm.Write(&d); err != nil || d.Histogram == nil {
			continue
		}
		channel := ""
		for _, l := range d.Label {
			if l.GetName() == "channel" {
				channel = l.GetValue()
			}
		}
		h := d.Histogram
		var parts []string
		var prev uint64
		for _, b := range h.Bucket {
			if n := b.GetCumulativeCount() - prev; n > 0 {
				parts = append(parts, strconv.FormatInt(int64(math.Round(b.GetUpperBound()*1e6)), 10)+":"+strconv.FormatUint(n, 10))
			}
			prev = b.GetCumulativeCount()
		}
		if n := h.GetSampleCount() - prev; n > 0 {
			parts = append(parts, "inf:"+strconv.FormatUint(n, 10))
		}
		log.Info(sendSummaryMsg, "channel", channel, "sends", h.GetSampleCount(), "buckets", strings.Join(parts, ","))
	}
}

// sendSummaryMsg is the message of summary's log records.
const sendSummaryMsg = "send durations"

// latencySummary merges "bound:count" bucket lists and returns the
// q-quantiles, interpolating within a bucket.
func latencySummary(lists []string, qs ...float64) ([]time.Duration, int64, error) {
	counts := map[float64]int64{} // upper bound in µs (+Inf) → count
	var total int64
	for _, l := range lists {
		for _, part := range strings.Split(l, ",") {
			if part == "" {
				continue
			}
			b, c, ok := strings.Cut(part, ":")
			n, err := strconv.ParseInt(c, 10, 64)
			if !ok || err != nil {
				return nil, 0, fmt.Errorf("bucket %q", part)
			}
			bound := math.Inf(1)
			if b != "inf" {
				v, err := strconv.ParseFloat(b, 64)
				if err != nil {
					return nil, 0, fmt.Errorf("bucket %q", part)
				}
				bound = v
			}
			counts[bound] += n
			total += n
		}
	}
	if total == 0 {
		return make([]time.Duration, len(qs)), 0, nil
	}
	bounds := make([]float64, 0, len(counts))
	for b := range counts {
		bounds = append(bounds, b)
	}
	sort.Float64s(bounds)
	out := make([]time.Duration, len(qs))
	for i, q := range qs {
		rank := q * float64(total)
		var seen float64
		last := 0.0 // the largest finite bound seen
		for _, b := range bounds {
			c := float64(counts[b])
			if seen+c >= rank {
				v := last // beyond the last bucket: its bound is all that is known
				if !math.IsInf(b, 1) {
					lower := b / 1.5 // the buckets grow by 1.5 ...
					if b <= sendBuckets[0]*1e6 {
						lower = 0 // ... from 0.1 ms
					}
					v = lower + (b-lower)*(rank-seen)/c
				}
				out[i] = time.Duration(v * float64(time.Microsecond))
				break
			}
			seen += c
			if !math.IsInf(b, 1) {
				last = b
			}
		}
	}
	return out, total, nil
}
