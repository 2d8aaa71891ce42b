package web

import (
	"context"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/heraldhq/herald/dispatcher"
)

// metricsWindow is how long after it finished a campaign keeps appearing
// in /metrics, so that a dashboard shows its end and then lets it go.
const metricsWindow = 7 * 24 * time.Hour

// metrics is herald's Prometheus registry. Ledger and queue numbers are
// read when Prometheus scrapes (they are the source of truth, and a scrape
// every 15 s costs one report query per live campaign); HTTP counters are
// kept as requests come. Rates (sends per minute, bounces per hour) are
// PromQL's job: rate(herald_deliveries{state="sent"}[5m]) or deriv().
type metrics struct {
	s        *Server
	reg      *prometheus.Registry
	requests *prometheus.CounterVec
	latency  *prometheus.HistogramVec
	logins   *prometheus.CounterVec
	lookups  prometheus.Counter

	deliveries *prometheus.Desc
	contacts   *prometheus.Desc
	status     *prometheus.Desc
	queueTasks *prometheus.Desc
	queueAge   *prometheus.Desc
	scrapeErr  *prometheus.Desc
}

func newMetrics(s *Server) *metrics {
	m := &metrics{
		s:   s,
		reg: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "herald_http_requests_total", Help: "HTTP requests by route name and status code.",
		}, []string{"route", "code"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "herald_http_request_duration_seconds", Help: "HTTP request latency by route name.",
			Buckets: prometheus.DefBuckets,
		}, []string{"route"}),
		logins: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "herald_logins_total", Help: "Console sign-in attempts by result (ok, bad, limited).",
		}, []string{"result"}),
		lookups: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "herald_contact_lookups_total", Help: "Support lookups of a person (each is in the audit log).",
		}),
		deliveries: prometheus.NewDesc("herald_deliveries", "Deliveries of a live campaign by channel and state: sends, bounces, failures.",
			[]string{"campaign", "channel", "state"}, nil),
		contacts: prometheus.NewDesc("herald_campaign_contacts", "Contacts of a live campaign by outcome (reached, unreachable, in_progress).",
			[]string{"campaign", "outcome"}, nil),
		status: prometheus.NewDesc("herald_campaign_running", "1 while a campaign is running, 0 otherwise.",
			[]string{"campaign", "status"}, nil),
		queueTasks: prometheus.NewDesc("herald_queue_tasks", "Tasks in a channel's queue by state (pending, active, scheduled, retry, archived).",
			[]string{"channel", "state"}, nil),
		queueAge: prometheus.NewDesc("herald_queue_latency_seconds", "Age of the oldest pending task in a channel's queue.",
			[]string{"channel"}, nil),
		scrapeErr: prometheus.NewDesc("herald_scrape_errors", "1 when reading the ledger or the queue for this scrape failed.",
			[]string{"source"}, nil),
	}
	m.reg.MustRegister(m.requests, m.latency, m.logins, m.lookups, m,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

func (m *metrics) handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Timeout: 20 * time.Second})
}

func (m *metrics) observeRequest(route string, code int, d time.Duration) {
	m.requests.WithLabelValues(route, strconv.Itoa(code)).Inc()
	m.latency.WithLabelValues(route).Observe(d.Seconds())
}

// Describe implements prometheus.Collector.
func (m *metrics) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{m.deliveries, m.contacts, m.status, m.queueTasks, m.queueAge, m.scrapeErr} {
		ch <- d
	}
}

// Collect implements prometheus.Collector: it reads the live campaigns'
// reports and the queue depth.
func (m *metrics) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	ledgerErr := 0.0
	if err := m.collectLedger(ctx, ch); err != nil {
		m.s.log.Warn("metrics: read ledger", "err", err)
		ledgerErr = 1
	}
	ch <- prometheus.MustNewConstMetric(m.scrapeErr, prometheus.GaugeValue, ledgerErr, "ledger")
	if m.s.cfg.Backend == nil {
		return
	}
	queueErr := 0.0
	depth, err := m.s.cfg.Backend.Depth(ctx)
	if err != nil {
		m.s.log.Warn("metrics: queue depth", "err", err)
		queueErr = 1
	}
	for _, d := range depth {
		k := string(d.Channel)
		for state, n := range map[string]int{"pending": d.Pending, "active": d.Active, "scheduled": d.Scheduled, "retry": d.Retry, "archived": d.Archived} {
			ch <- prometheus.MustNewConstMetric(m.queueTasks, prometheus.GaugeValue, float64(n), k, state)
		}
		ch <- prometheus.MustNewConstMetric(m.queueAge, prometheus.GaugeValue, d.Latency.Seconds(), k)
	}
	ch <- prometheus.MustNewConstMetric(m.scrapeErr, prometheus.GaugeValue, queueErr, "queue")
}

func (m *metrics) collectLedger(ctx context.Context, ch chan<- prometheus.Metric) error {
	cs, err := m.s.cfg.Store.Campaigns(ctx)
	if err != nil {
		return err
	}
	now := m.s.cfg.Now()
	for _, c := range cs {
		if c.Status.Final() && now.Sub(c.FinishedAt) > metricsWindow {
			continue
		}
		sr, err := m.s.report(ctx, c)
		if err != nil {
			return err
		}
		r := sr.Report
		running := 0.0
		if c.Status == dispatcher.CampaignRunning {
			running = 1
		}
		ch <- prometheus.MustNewConstMetric(m.status, prometheus.GaugeValue, running, c.Name, string(c.Status))
		for _, sc := range r.States {
			ch <- prometheus.MustNewConstMetric(m.deliveries, prometheus.GaugeValue, float64(sc.N), c.Name, string(sc.Channel), string(sc.State))
		}
		ch <- prometheus.MustNewConstMetric(m.contacts, prometheus.GaugeValue, float64(r.Reached), c.Name, "reached")
		ch <- prometheus.MustNewConstMetric(m.contacts, prometheus.GaugeValue, float64(r.Unreachable), c.Name, "unreachable")
		ch <- prometheus.MustNewConstMetric(m.contacts, prometheus.GaugeValue, float64(r.InProgress), c.Name, "in_progress")
	}
	return nil
}
