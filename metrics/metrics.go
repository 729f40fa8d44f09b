// Package metrics exposes tandem's gateway to Prometheus: requests,
// durations, bytes, in-flight requests, upstream errors and instances, with
// label sets bounded by the configuration (instance, route, service names),
// never by what clients send (raw paths, hosts).
package metrics

import (
	"net/http"
	"strconv"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/tandem-dev/tandem/gateway"
)

// Gateway collects the gateway's metrics: it is the gateway's Observer.
type Gateway struct {
	// The metrics of a label set, kept once looked up: the request path
	// then skips the vectors' hashing and validation of label values.
	series   sync.Map // seriesKey → *series
	inFlight sync.Map // instance → prometheus.Gauge

	requests  *prometheus.CounterVec
	duration  *prometheus.HistogramVec
	bytes     *prometheus.CounterVec
	inFlightV *prometheus.GaugeVec
	upstream  *prometheus.CounterVec
	instances prometheus.Gauge
}

// NewGateway registers the gateway's metrics with reg.
func NewGateway(reg prometheus.Registerer) *Gateway {
	f := func(c prometheus.Collector) { reg.MustRegister(c) }
	g := &Gateway{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "tandem", Subsystem: "gateway", Name: "requests_total",
			Help: "Requests answered, by instance, route prefix, service, method and status code.",
		}, []string{"instance", "route", "service", "method", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: "tandem", Subsystem: "gateway", Name: "request_duration_seconds",
			Help: "Time from a request's arrival to the end of its response, by instance and route prefix.",
			// From sub-millisecond proxying to slow server rendering.
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}, []string{"instance", "route"}),
		bytes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "tandem", Subsystem: "gateway", Name: "response_bytes_total",
			Help: "Response body bytes sent to clients, by instance and route prefix.",
		}, []string{"instance", "route"}),
		inFlightV: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: "tandem", Subsystem: "gateway", Name: "requests_in_flight",
			Help: "Requests being answered, by instance.",
		}, []string{"instance"}),
		upstream: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "tandem", Subsystem: "gateway", Name: "upstream_errors_total",
			Help: "Failures reaching a service: dial, timeout, reset, bad_response, down (passive health).",
		}, []string{"instance", "service", "kind"}),
		instances: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: "tandem", Subsystem: "gateway", Name: "instances",
			Help: "Stack instances in the routing table.",
		}),
	}
	f(g.requests)
	f(g.duration)
	f(g.bytes)
	f(g.inFlightV)
	f(g.upstream)
	f(g.instances)
	return g
}

var _ gateway.Observer = (*Gateway)(nil)

// unmatched names requests no instance answered: an unknown host.
const unmatched = "(none)"

func site(s string) string {
	if s == "" {
		return unmatched
	}
	return s
}

type seriesKey struct {
	site, route, service, method string
	status                       int
}

type series struct {
	requests prometheus.Counter
	duration prometheus.Observer
	bytes    prometheus.Counter
}

func (g *Gateway) gauge(s string) prometheus.Gauge {
	if v, ok := g.inFlight.Load(s); ok {
		return v.(prometheus.Gauge)
	}
	v, _ := g.inFlight.LoadOrStore(s, g.inFlightV.WithLabelValues(s))
	return v.(prometheus.Gauge)
}

// RequestStarted counts a request in flight.
func (g *Gateway) RequestStarted(s string) { g.gauge(site(s)).Inc() }

// RequestDone records a finished request.
func (g *Gateway) RequestDone(r gateway.RequestInfo) {
	s := site(r.Site)
	g.gauge(s).Dec()
	k := seriesKey{s, r.Route, r.Service, method(r.Method), r.Status}
	v, ok := g.series.Load(k)
	if !ok {
		v, _ = g.series.LoadOrStore(k, &series{
			requests: g.requests.WithLabelValues(s, r.Route, r.Service, k.method, strconv.Itoa(r.Status)),
			duration: g.duration.WithLabelValues(s, r.Route),
			bytes:    g.bytes.WithLabelValues(s, r.Route),
		})
	}
	m := v.(*series)
	m.requests.Inc()
	m.duration.Observe(r.Duration.Seconds())
	if r.BytesOut > 0 {
		m.bytes.Add(float64(r.BytesOut))
	}
}

// Forget drops the series of instances keep does not keep, so a server
// that makes and destroys previews for months does not keep every one's.
func (g *Gateway) Forget(keep func(instance string) bool) {
	gone := map[string]bool{}
	g.inFlight.Range(func(k, _ any) bool {
		if s := k.(string); s != unmatched && !keep(s) {
			gone[s] = true
			g.inFlight.Delete(k)
		}
		return true
	})
	g.series.Range(func(k, _ any) bool {
		if gone[k.(seriesKey).site] {
			g.series.Delete(k)
		}
		return true
	})
	for s := range gone {
		l := prometheus.Labels{"instance": s}
		g.requests.DeletePartialMatch(l)
		g.duration.DeletePartialMatch(l)
		g.bytes.DeletePartialMatch(l)
		g.inFlightV.DeletePartialMatch(l)
		g.upstream.DeletePartialMatch(l)
	}
}

// UpstreamError counts a failure to reach a service.
func (g *Gateway) UpstreamError(s, service, kind string) {
	g.upstream.WithLabelValues(site(s), service, kind).Inc()
}

// SitesChanged records how many instances the routing table holds.
func (g *Gateway) SitesChanged(n int) { g.instances.Set(float64(n)) }

// method keeps the label set bounded: a made-up method is OTHER.
func method(m string) string {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodOptions, http.MethodConnect, http.MethodTrace:
		return m
	}
	return "OTHER"
}

// Registry is a registry with the Go runtime's and the process's collectors.
func Registry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return reg
}

// Handler serves reg's metrics in the Prometheus text format.
func Handler(reg *prometheus.Registry) http.Handler {
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg})
}
