package forge

import (
	"context"
	"fmt"
	"log/slog"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tandem-dev/tandem"
	"github.com/tandem-dev/tandem/preview"
)

// Previews is what pull requests act on: tandem serve's manager.
type Previews interface {
	Create(ctx context.Context, req preview.CreateRequest) (*tandem.Preview, error)
	Get(ctx context.Context, name string) (*tandem.Preview, error)
	List(ctx context.Context) ([]*tandem.Preview, error)
	Destroy(ctx context.Context, name string) error
	Events(ctx context.Context, name string, after int64) ([]tandem.Event, error)
	Subscribe(name string) (<-chan tandem.Event, func())
}

var _ Previews = (*preview.Manager)(nil)

// Repo is a registered repository as its forge knows it, with the rules
// for which pull requests get previews (tandem.yaml's forge block).
type Repo struct {
	Name    string // tandem's name for it
	Forge   string // the forge's name in tandem.yaml
	Project string // the forge's name for it: "alice/shop", "group/sub/shop"
	// Previews is false for a repository that only supplies services to
	// others' previews: its pull requests update those, and get none.
	Previews bool
	// Labels, if any, gate previews: a pull request gets one only while it
	// carries one of them.
	Labels []string
	// Paths, if any, filter previews: a pull request gets one only if it
	// changes a path matching one of them (path.Match patterns; "dir/**"
	// matches everything under dir).
	Paths []string
	// AllowLabel is the label that allows a fork's pull request, as a
	// "/tandem allow" comment by someone with write access does.
	AllowLabel string
	// ForkSecrets says that forks' previews get the repository's secrets
	// (only what the comment says: the preview manager decides).
	ForkSecrets bool
}

// Options configure a Service.
type Options struct {
	Store    tandem.ForgeStore
	Previews Previews
	Forges   map[string]Client // by name in tandem.yaml
	Repos    []Repo
	Logger   *slog.Logger
	// Metrics registers the webhooks' counters (nil: not exported).
	Metrics prometheus.Registerer
	// AccessEvent records who allowed or was refused a fork's pull
	// request (nil: logged only).
	AccessEvent func(ctx context.Context, e tandem.AccessEvent)
	// ReviewState says, for the comment, where a preview's review is (nil:
	// no review plan yet).
	ReviewState func(ctx context.Context, preview string) string

	MaxAttempts int           // tries before a delivery fails (default 8)
	MaxBackoff  time.Duration // the longest wait between tries (default 5m)
	MaxBody     int64         // the largest webhook body accepted (default 10 MiB)
}

// Service receives webhooks, works through their queue and reports back.
type Service struct {
	opts    Options
	log     *slog.Logger
	metrics *counters

	wake    chan struct{} // a delivery was queued
	dirty   chan string   // a preview changed: report it
	stop    context.CancelFunc
	done    sync.WaitGroup
	mu      sync.Mutex
	pending map[string]bool // previews to report

	// records is held while a pull request's record is read, changed and
	// written, by the queue or the reporter, so neither writes back a copy
	// older than the other's.
	records sync.Mutex
}

// New returns a service; nothing is processed until Start.
func New(opts Options) *Service {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.MaxAttempts <= 0 {
		opts.MaxAttempts = 8
	}
	if opts.MaxBackoff <= 0 {
		opts.MaxBackoff = 5 * time.Minute
	}
	if opts.MaxBody <= 0 {
		opts.MaxBody = 10 << 20
	}
	return &Service{
		opts: opts, log: opts.Logger, metrics: newCounters(opts.Metrics),
		wake: make(chan struct{}, 1), dirty: make(chan string, 1), pending: map[string]bool{},
	}
}

// Start processes the deliveries queued, those left by an earlier run
// first, and reports previews' changes to their pull requests, until Close.
func (s *Service) Start() {
	ctx, cancel := context.WithCancel(context.Background())
	s.stop = cancel
	events, unsubscribe := s.opts.Previews.Subscribe("")
	// What changed while tandem was down, or before this subscription (the
	// previews brought back at start), is reported once now.
	if previews, err := s.opts.Previews.List(ctx); err == nil {
		for _, p := range previews {
			s.markDirty(p.Name)
		}
	}
	s.done.Add(3)
	go func() { defer s.done.Done(); s.processLoop(ctx) }()
	go func() { defer s.done.Done(); s.reportLoop(ctx) }()
	go func() {
		defer s.done.Done()
		defer unsubscribe()
		for {
			select {
			case <-ctx.Done():
				return
			case e, ok := <-events:
				if !ok {
					return
				}
				s.markDirty(e.Preview)
			}
		}
	}()
}

// Close stops processing; what is queued stays queued for the next Start.
func (s *Service) Close() {
	if s.stop != nil {
		s.stop()
	}
	s.done.Wait()
}

// repo returns the registered repository a forge's project is, or nil.
func (s *Service) repo(forge, project string) *Repo {
	for i, r := range s.opts.Repos {
		if r.Forge == forge && strings.EqualFold(r.Project, project) {
			return &s.opts.Repos[i]
		}
	}
	return nil
}

var notLabel = regexp.MustCompile(`[^a-z0-9-]+`)

// PreviewName is the preview a pull request gets: REPO-pr-N, a DNS label.
func PreviewName(repo string, number int) string {
	base := strings.Trim(notLabel.ReplaceAllString(strings.ToLower(repo), "-"), "-")
	suffix := fmt.Sprintf("-pr-%d", number)
	if len(base)+len(suffix) > 63 {
		base = strings.TrimRight(base[:63-len(suffix)], "-")
	}
	if base == "" {
		return strings.TrimPrefix(suffix, "-")
	}
	return base + suffix
}

// accessEvent records e where the server keeps who did what.
func (s *Service) accessEvent(ctx context.Context, e tandem.AccessEvent) {
	s.log.Info("forge: "+e.Kind, "actor", e.Actor, "repo", e.Repo, "preview", e.Preview, "detail", e.Detail)
	if s.opts.AccessEvent != nil {
		s.opts.AccessEvent(ctx, e)
	}
}
