package main

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tandem-dev/tandem"
	"github.com/tandem-dev/tandem/gateway"
	"github.com/tandem-dev/tandem/metrics"
)

// listenGateway starts the gateway's listeners as a configuration says:
// plain HTTP on listen (or, with tls.redirect_http, a redirect to HTTPS
// there) and HTTPS on tls.listen. It returns their URLs, for people; both
// are bound before it returns, so a taken port fails at once.
func listenGateway(g *gateway.Gateway, listen string, tlsc *tlsConfig, stderr io.Writer) ([]string, error) {
	var urls []string
	if listen != "" {
		ln, err := net.Listen("tcp", listen)
		if err != nil {
			return nil, tandem.Errorf(tandem.ECONFLICT, "gateway: %w", err)
		}
		urls = append(urls, "http://"+ln.Addr().String())
		if tlsc != nil && tlsc.RedirectHTTP {
			_, port, _ := net.SplitHostPort(tlsc.Listen)
			p, _ := strconv.Atoi(port)
			go g.ServeRedirect(ln, p)
		} else {
			go g.Serve(ln)
		}
	}
	if tlsc != nil {
		ln, err := net.Listen("tcp", tlsc.Listen)
		if err != nil {
			return nil, tandem.Errorf(tandem.ECONFLICT, "gateway (TLS): %w", err)
		}
		urls = append(urls, "https://"+ln.Addr().String())
		go func() {
			if err := g.ServeTLS(ln, tlsc.Cert, tlsc.Key); err != nil && !errors.Is(err, http.ErrServerClosed) && !errors.Is(err, net.ErrClosed) {
				fmt.Fprintf(stderr, "tandem: tls: %v\n", err)
			}
		}()
	}
	return urls, nil
}

// listenAdmin answers Prometheus metrics at /metrics, and /healthz, on addr.
func listenAdmin(addr string, reg *prometheus.Registry) (*http.Server, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, tandem.Errorf(tandem.ECONFLICT, "admin: %w", err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", metrics.Handler(reg))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "ok\n") })
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln)
	return srv, nil
}
