package metrics

import (
	"context"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/ringmaster-fleet/ringmaster/campaigns"
	"github.com/ringmaster-fleet/ringmaster/orchestrator"
	"github.com/ringmaster-fleet/ringmaster/playbooks"
)

// Campaigns lists the campaigns with their devices' counts by state
// (*campaigns.Service is one).
type Campaigns interface {
	List(ctx context.Context) ([]campaigns.Summary, error)
}

// Metrics holds the collectors.
type Metrics struct {
	reg        *prometheus.Registry
	requests   *prometheus.CounterVec
	latency    *prometheus.HistogramVec
	passes     prometheus.Histogram
	dispatched prometheus.Counter
	finished   *prometheus.CounterVec
	execErrors *prometheus.CounterVec
}

// ScrapeTimeout bounds the store reads of one scrape.
const ScrapeTimeout = 5 * time.Second

// New registers the collectors; cs, if not nil, is read at each scrape
// for the devices' counts.
func New(cs Campaigns, log *slog.Logger) *Metrics {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	m := &Metrics{reg: prometheus.NewRegistry()}
	m.requests = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "ringmaster_http_requests_total",
		Help: "API requests by operation and status code."}, []string{"operation", "code"})
	m.latency = prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "ringmaster_http_request_duration_seconds",
		Help: "API request time by operation.", Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}}, []string{"operation"})
	m.passes = prometheus.NewHistogram(prometheus.HistogramOpts{Name: "ringmaster_control_pass_duration_seconds",
		Help: "How long each control pass took (reading, deciding, applying).", Buckets: []float64{.01, .05, .1, .25, .5, 1, 2.5, 5, 10, 30}})
	m.dispatched = prometheus.NewCounter(prometheus.CounterOpts{Name: "ringmaster_devices_dispatched_total",
		Help: "Devices the control passes of this process dispatched."})
	m.finished = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "ringmaster_devices_finished_total",
		Help: "Device runs this process's workers ended, by outcome status."}, []string{"status"})
	m.execErrors = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "ringmaster_executor_errors_total",
		Help: "Device runs that ended on the executor's or the device's fault, by kind (unreachable, auth_failed, timed_out, ...)."}, []string{"kind"})
	m.reg.MustRegister(m.requests, m.latency, m.passes, m.dispatched, m.finished, m.execErrors,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	if cs != nil {
		m.reg.MustRegister(&deviceCollector{cs: cs, log: log})
	}
	return m
}

// Handler serves the metrics in Prometheus' text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError})
}

// Request counts an API request.
func (m *Metrics) Request(operation string, code int, took time.Duration) {
	m.requests.WithLabelValues(operation, statusText(code)).Inc()
	m.latency.WithLabelValues(operation).Observe(took.Seconds())
}

func statusText(code int) string {
	const digits = "0123456789"
	if code < 100 || code > 999 {
		return "other"
	}
	return string([]byte{digits[code/100], digits[code/10%10], digits[code%10]})
}

// Pass records a control pass (scheduler.Config.OnPass takes it through a
// closure: took and dispatched).
func (m *Metrics) Pass(took time.Duration, dispatched int) {
	m.passes.Observe(took.Seconds())
	m.dispatched.Add(float64(dispatched))
}

// executorKinds are the outcomes that are the executor's or the device's
// fault rather than the playbook's verdict.
var executorKinds = map[playbooks.Reason]bool{
	playbooks.ReasonUnreachable: true, playbooks.ReasonAuthFailed: true, playbooks.ReasonTimedOut: true,
	playbooks.ReasonRebootTimeout: true, playbooks.ReasonTaskFailed: true, playbooks.ReasonBadOutput: true,
}

// Outcome records a device run's end (scheduler.Config.OnOutcome).
func (m *Metrics) Outcome(_, _ string, o playbooks.Outcome) {
	m.finished.WithLabelValues(string(o.Status)).Inc()
	kind, _, _ := strings.Cut(string(o.Reason), ":") // "compat_blocked:0x..." is one kind
	if executorKinds[playbooks.Reason(kind)] {
		m.execErrors.WithLabelValues(kind).Inc()
	}
}

// deviceCollector reads the campaigns' counts at each scrape.
type deviceCollector struct {
	cs  Campaigns
	log *slog.Logger
}

var (
	devicesDesc = prometheus.NewDesc("ringmaster_campaign_devices", "A campaign's devices by state.", []string{"campaign", "status", "state"}, nil)
	queueDesc   = prometheus.NewDesc("ringmaster_queue_depth", "A campaign's devices dispatched and waiting for a worker (queued).", []string{"campaign"}, nil)
	scrapeDesc  = prometheus.NewDesc("ringmaster_campaigns_scrape_error", "1 if the campaigns' counts could not be read at this scrape.", nil, nil)
)

func (c *deviceCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- devicesDesc
	ch <- queueDesc
	ch <- scrapeDesc
}

func (c *deviceCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), ScrapeTimeout)
	defer cancel()
	list, err := c.cs.List(ctx)
	if err != nil {
		c.log.Warn("metrics: read the campaigns' counts", "err", err)
		ch <- prometheus.MustNewConstMetric(scrapeDesc, prometheus.GaugeValue, 1)
		return
	}
	ch <- prometheus.MustNewConstMetric(scrapeDesc, prometheus.GaugeValue, 0)
	for _, s := range list {
		for state, n := range s.States {
			ch <- prometheus.MustNewConstMetric(devicesDesc, prometheus.GaugeValue, float64(n), s.Name, s.Status, state)
		}
		ch <- prometheus.MustNewConstMetric(queueDesc, prometheus.GaugeValue, float64(s.States[string(orchestrator.DeviceQueued)]), s.Name)
	}
}
