package forge

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tandem-dev/tandem"
)

// Handler answers a forge's webhook deliveries: the body is read up to the
// size limit, its signature checked before anything in it is parsed, and
// the normalised event queued, once per delivery ID. The forge gets its
// answer as soon as the delivery is on disk; the work is the queue's.
// Webhooks carry no API token: the signature is their credential.
func (s *Service) Handler(name string) http.Handler {
	c := s.opts.Forges[name]
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			w.Header().Set("Allow", "POST")
			hookAnswer(w, http.StatusMethodNotAllowed, "webhooks are POSTed")
			return
		}
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.opts.MaxBody))
		if err != nil {
			var tooLarge *http.MaxBytesError
			if errors.As(err, &tooLarge) {
				s.metrics.webhook(name, "too_large")
				hookAnswer(w, http.StatusRequestEntityTooLarge, "the body is larger than the limit")
				return
			}
			hookAnswer(w, http.StatusBadRequest, "could not read the body")
			return
		}
		if err := c.Verify(r.Header, body); err != nil {
			s.metrics.webhook(name, "refused")
			s.log.Warn("forge: webhook refused", "forge", name, "remote", r.RemoteAddr, "err", err)
			hookAnswer(w, http.StatusUnauthorized, "signature missing or wrong")
			return
		}
		ev, err := c.Parse(r.Header, body)
		if err != nil {
			s.metrics.webhook(name, "invalid")
			hookAnswer(w, http.StatusBadRequest, tandem.ErrorCode(err)+": "+err.Error())
			return
		}
		if ev.Action == Ignored {
			s.metrics.webhook(name, "ignored")
			hookAnswer(w, http.StatusOK, "ignored")
			return
		}
		if ev.Delivery == "" {
			s.metrics.webhook(name, "invalid")
			hookAnswer(w, http.StatusBadRequest, "the delivery has no ID")
			return
		}
		data, _ := json.Marshal(ev)
		added, err := s.opts.Store.AddDelivery(r.Context(), tandem.ForgeDelivery{Forge: name, ID: ev.Delivery, Event: data, Received: time.Now().UTC()})
		if err != nil {
			s.log.Error("forge: queue delivery", "forge", name, "delivery", ev.Delivery, "err", err)
			hookAnswer(w, http.StatusServiceUnavailable, "could not queue the delivery; send it again")
			return
		}
		if !added {
			s.metrics.webhook(name, "duplicate")
			hookAnswer(w, http.StatusOK, "duplicate delivery "+ev.Delivery+": already queued")
			return
		}
		s.metrics.webhook(name, "accepted")
		select {
		case s.wake <- struct{}{}:
		default:
		}
		hookAnswer(w, http.StatusAccepted, "queued")
	})
}

func hookAnswer(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(map[string]string{"status": http.StatusText(code), "message": msg})
}

// counters are the webhooks' metrics.
type counters struct {
	webhooks   *prometheus.CounterVec
	deliveries *prometheus.CounterVec
}

func newCounters(reg prometheus.Registerer) *counters {
	c := &counters{
		webhooks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "tandem", Subsystem: "forge", Name: "webhooks_total",
			Help: "Webhook deliveries received, by forge and result: accepted, duplicate, ignored, refused (signature missing or wrong), invalid, too_large.",
		}, []string{"forge", "result"}),
		deliveries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "tandem", Subsystem: "forge", Name: "delivery_attempts_total",
			Help: "Attempts at handling queued deliveries, by forge and outcome: done, retry, failed.",
		}, []string{"forge", "outcome"}),
	}
	if reg != nil {
		reg.MustRegister(c.webhooks, c.deliveries)
	}
	return c
}

func (c *counters) webhook(forge, result string) { c.webhooks.WithLabelValues(forge, result).Inc() }

// Refused returns how many deliveries of forge were refused for their
// signature: for tests and the status page.
func (s *Service) Refused(forge string) float64 {
	return counterValue(s.metrics.webhooks.WithLabelValues(forge, "refused"))
}
