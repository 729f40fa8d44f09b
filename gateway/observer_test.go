package gateway

import (
	"net/http"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/tandem-dev/tandem"
)

// recorder is an Observer that keeps what it is told.
type recorder struct {
	mu       sync.Mutex
	inflight int
	started  []string
	done     []RequestInfo
	errors   []string // "site service kind"
	sites    []int
}

func (r *recorder) RequestStarted(site string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.inflight++
	r.started = append(r.started, site)
}

func (r *recorder) RequestDone(i RequestInfo) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.inflight--
	r.done = append(r.done, i)
}

func (r *recorder) UpstreamError(site, service, kind string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.errors = append(r.errors, site+" "+service+" "+kind)
}

func (r *recorder) SitesChanged(n int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.sites = append(r.sites, n)
}

// waitDone waits for n finished requests: a record may follow the response.
func (r *recorder) waitDone(t *testing.T, n int) []RequestInfo {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		r.mu.Lock()
		if len(r.done) >= n {
			d := slices.Clone(r.done)
			r.mu.Unlock()
			return d
		}
		r.mu.Unlock()
	}
	t.Fatalf("fewer than %d requests done", n)
	return nil
}

func TestObserver(t *testing.T) {
	eachPath(t, func(t *testing.T, v via) {
		rec := &recorder{}
		h, _ := errorsHarness(t, v, Options{Observer: rec, MaxFails: 1, FailTimeout: time.Minute})
		h.get("/api/users/42/?token=secret")
		req, _ := http.NewRequest("PURGE", h.URL+"/page", nil)
		h.do(req)
		h.setAddr("api:8000", refusedAddr(t))
		h.setReady(nil)  // a new *Site: no kept-alive connection to api
		h.get("/api/x/") // refused: the service is marked down
		h.get("/api/y/") // answered by passive health

		// A request's records are made after its response is written, so
		// they may arrive in any order: each is matched to one wanted.
		done := rec.waitDone(t, 4)
		want := []RequestInfo{
			{Site: "local", Route: "/api/", Service: "api", Method: "GET", Status: 200, BytesOut: 2},
			{Site: "local", Route: "/", Service: "web", Method: "OTHER", Status: 200, BytesOut: 2},
			{Site: "local", Route: "/api/", Service: "api", Method: "GET", Status: 503},
			{Site: "local", Route: "/api/", Service: "api", Method: "GET", Status: 503},
		}
		for _, d := range done {
			if d.Duration <= 0 {
				t.Errorf("%+v: no duration", d)
			}
			d.Duration = 0
			if d.Status == 503 {
				d.BytesOut = 0 // an error page's size is the page's business
			}
			i := slices.Index(want, d)
			if i < 0 {
				t.Errorf("request done %+v, not one of %+v", d, want)
				continue
			}
			want = slices.Delete(want, i, i+1)
		}
		if len(want) > 0 {
			t.Errorf("requests not done: %+v", want)
		}
		rec.mu.Lock()
		defer rec.mu.Unlock()
		slices.Sort(rec.errors)
		if !slices.Equal(rec.errors, []string{"local api dial", "local api down"}) {
			t.Errorf("upstream errors %q", rec.errors)
		}
		if rec.inflight != 0 || !slices.Equal(rec.started, []string{"local", "local", "local", "local"}) {
			t.Errorf("in flight %d, started %q", rec.inflight, rec.started)
		}
		if !slices.Equal(rec.sites, []int{1, 1}) {
			t.Errorf("SitesChanged %v", rec.sites)
		}
	})
}

// A host no site answers still balances in-flight, with no site label.
func TestObserverNoSite(t *testing.T) {
	rec := &recorder{}
	g := New(Options{Observer: rec})
	g.Set(&Table{Hosts: map[string]*Site{"a.test": {Name: "a", Routes: []tandem.Route{webRoute}}, "b.test": {Name: "b"}}})
	if res := serveOnce(g, "/"); res.Code != http.StatusNotFound {
		t.Fatalf("status %d", res.Code)
	}
	done := rec.waitDone(t, 1)
	if done[0].Site != "" || done[0].Status != 404 || rec.inflight != 0 || !slices.Equal(rec.sites, []int{2}) {
		t.Errorf("%+v, in flight %d, sites %v", done[0], rec.inflight, rec.sites)
	}
}
