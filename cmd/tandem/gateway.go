package main

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"runtime/debug"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/tandem-dev/tandem"
	"github.com/tandem-dev/tandem/gateway"
	"github.com/tandem-dev/tandem/internal/logwriter"
	"github.com/tandem-dev/tandem/metrics"
)

func newGatewayCmd(stdout, stderr io.Writer) *cobra.Command {
	var file string
	var checkOnly bool
	cmd := &cobra.Command{
		Use:   "gateway --config gateway.yaml",
		Short: "Run the gateway alone, in front of services that run elsewhere",
		Long: `Run tandem's gateway on its own, in front of services that run elsewhere (a
production deployment, a benchmark): the same routing, headers, error pages,
access log and metrics as under tandem up, configured by a file:

  listen: :8080
  admin: 127.0.0.1:9090          # Prometheus metrics at /metrics
  access_log: stdout             # off, stdout or a file
  sites:
    - name: shop
      hosts: [shop.example.com]
      upstreams: { api: 10.0.0.5, web: 10.0.0.6 }
      routes:
        - { path: /api/, to: api:8000, strip_prefix: true, errors: json }
        - { path: /, to: web:3000 }

SIGHUP reloads the file without dropping a request; a file with problems is
reported and the running configuration kept. See docs/gateway.md.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := readGatewayConfig(file)
			if err != nil {
				return err
			}
			if checkOnly {
				fmt.Fprintf(stdout, "%s: ok: %d sites\n", file, len(cfg.Sites))
				return nil
			}
			return runGateway(cmd.Context(), cfg, stdout, stderr)
		},
	}
	cmd.Flags().StringVarP(&file, "config", "c", "gateway.yaml", "the gateway's configuration file")
	cmd.Flags().BoolVar(&checkOnly, "check", false, "check the file and exit")
	return cmd
}

func runGateway(ctx context.Context, cfg *gatewayConfig, stdout, stderr io.Writer) error {
	logOut, closeLog, err := accessLogWriter(cfg.AccessLog, stdout)
	if err != nil {
		return err
	}
	defer closeLog()
	var logger *slog.Logger
	if logOut != nil {
		logger = slog.New(slog.NewJSONHandler(logOut, nil))
	}
	// Metrics only when something can read them: requests do not pay for
	// counters nobody sees.
	reg := metrics.Registry()
	obs := metrics.NewGateway(reg)
	var observer gateway.Observer
	if cfg.Admin != "" {
		observer = obs
	}
	g := gateway.New(gateway.Options{
		Logger:                logger,
		Observer:              observer,
		TrustedProxies:        cfg.proxies,
		DialTimeout:           time.Duration(cfg.Timeouts.Dial),
		ResponseHeaderTimeout: time.Duration(cfg.Timeouts.ResponseHeader),
		IdleConnTimeout:       time.Duration(cfg.Timeouts.Idle),
	})
	sites := map[string]*siteState{}
	g.Set(buildTable(cfg, sites))
	obs.SitesChanged(len(cfg.Sites))
	// Reading a large file leaves garbage the table does not keep.
	debug.FreeOSMemory()

	addrs, err := listenGateway(g, cfg.Listen, cfg.TLS, stderr)
	if err != nil {
		return err
	}
	var admin *http.Server
	if cfg.Admin != "" {
		if admin, err = listenAdmin(cfg.Admin, reg); err != nil {
			return err
		}
	}
	fmt.Fprintf(stderr, "tandem: gateway on %s, %d sites (SIGHUP reloads %s)\n", strings.Join(addrs, " and "), len(cfg.Sites), cfg.file)

	hup := make(chan os.Signal, 16)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	soft, _, stop := signalContext(ctx)
	defer stop()
	for {
		select {
		case <-hup:
			next, err := readGatewayConfig(cfg.file)
			if err != nil {
				fmt.Fprintf(stderr, "tandem: reload: %v\ntandem: keeping the running configuration\n", err)
				continue
			}
			g.Set(buildTable(next, sites))
			obs.SitesChanged(len(next.Sites))
			debug.FreeOSMemory()
			fmt.Fprintf(stderr, "tandem: reloaded %s: %d sites\n", cfg.file, len(next.Sites))
		case <-soft.Done():
			sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if admin != nil {
				admin.Shutdown(sctx)
			}
			return g.Shutdown(sctx)
		}
	}
}

// siteState is a site as last built, kept so that a reload that leaves a
// site as it was passes the same *gateway.Site, and its connections live on.
// It keeps a fingerprint of the site's configuration, not a copy: with
// 10,000 sites, copies would be a third of the gateway's memory.
type siteState struct {
	fp   [32]byte
	site *gateway.Site
}

// fingerprint identifies a site's configuration.
func (s siteConfig) fingerprint() [32]byte {
	b, _ := json.Marshal(s)
	return sha256.Sum256(b)
}

// buildTable makes the gateway's table from cfg, reusing the sites of prev
// whose configuration did not change; prev is updated to the new set.
func buildTable(cfg *gatewayConfig, prev map[string]*siteState) *gateway.Table {
	t := &gateway.Table{Hosts: map[string]*gateway.Site{}}
	seen := map[string]bool{}
	for _, sc := range cfg.Sites {
		seen[sc.Name] = true
		st := prev[sc.Name]
		fp := sc.fingerprint()
		if st == nil || st.fp != fp {
			routes := make([]tandem.Route, 0, len(sc.Routes))
			for _, rc := range sc.Routes {
				r, _ := rc.route() // checked when the file was read
				routes = append(routes, r)
			}
			st = &siteState{fp: fp, site: &gateway.Site{Name: sc.Name, Routes: routes, Dial: dialer(sc.Upstreams, time.Duration(cfg.Timeouts.Dial))}}
			prev[sc.Name] = st
		}
		if sc.Default {
			t.Default = st.site
		}
		for _, h := range sc.Hosts {
			t.Hosts[strings.ToLower(strings.TrimSuffix(h, "."))] = st.site
		}
	}
	for name := range prev {
		if !seen[name] {
			delete(prev, name)
		}
	}
	return t
}

// accessLogWriter opens where the access log goes: "off", "stdout" (the
// default) or a file, appended to; written in batches, as it has a line per
// request.
func accessLogWriter(where string, stdout io.Writer) (io.Writer, func(), error) {
	switch where {
	case "off":
		return nil, func() {}, nil
	case "", "stdout":
		w := logwriter.New(stdout)
		return w, func() { w.Flush() }, nil
	}
	// Who visited what is for the operator alone.
	f, err := os.OpenFile(where, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, nil, fmt.Errorf("access log: %w", err)
	}
	w := logwriter.New(f)
	return w, func() { w.Close() }, nil
}
