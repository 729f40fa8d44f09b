package main

import (
	"log/slog"

	"github.com/tandem-dev/tandem"
	"github.com/tandem-dev/tandem/access"
	"github.com/tandem-dev/tandem/gateway"
	"github.com/tandem-dev/tandem/preview"
	"github.com/tandem-dev/tandem/sqlite"
)

// newAccess makes the gates of tandem serve's private previews and its
// sign-in host, as tandem.yaml's auth and smtp say.
func newAccess(cfg *serveConfig, store *sqlite.DB, audit tandem.AuditLog, logger *slog.Logger) (*access.Server, access.Config, error) {
	opts, err := cfg.accessOptions(logger)
	if err != nil {
		return nil, opts, err
	}
	opts.Store, opts.Previews, opts.Audit = store, store, audit
	srv, err := access.New(opts)
	return srv, opts, err
}

// gates is what the preview router needs to put previews behind gates:
// the access server, each repository's access setting, and the sign-in
// host's site, made once so the gateway keeps it from table to table.
type gates struct {
	srv    *access.Server
	repos  map[string]tandem.PreviewAccess
	signIn *gateway.Site
}

func newGates(srv *access.Server, cfg *serveConfig) *gates {
	g := &gates{srv: srv, repos: map[string]tandem.PreviewAccess{}, signIn: srv.AuthSite()}
	for _, r := range cfg.Repos {
		g.repos[r.Name] = tandem.PreviewAccess(r.Access)
	}
	return g
}

// gate is the gate of an instance, nil for a public preview: public only
// when its repository says so and its stack file does not say private.
func (g *gates) gate(in *preview.Instance) gateway.Gate {
	if g == nil || tandem.EffectiveAccess(g.repos[in.Repo], in.Access) == tandem.AccessPublic {
		return nil
	}
	return g.srv.Gate(access.Preview{Name: in.Preview, Repo: in.Repo, Generation: in.Generation})
}

// hosts are the sites the gateway serves by exact host name: the sign-in
// host. (A preview named like it is never reached: exact hosts win.)
func (g *gates) hosts() map[string]*gateway.Site {
	if g == nil {
		return nil
	}
	return map[string]*gateway.Site{g.srv.AuthHost(): g.signIn}
}
