package gateway

import (
	"io"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/tandem-dev/tandem"
)

// A reload storm: clients keep requesting one site while 1,000 Sets add
// and remove other sites (and now and then replace the site itself by an
// equal one). Not one request may fail.
func TestSetUnderLoadManySets(t *testing.T) {
	eachPath(t, func(t *testing.T, v via) {
		h := newHarness(t, v, Options{}, []tandem.Route{apiRoute, webRoute},
			map[string]http.Handler{"api:8000": echo("api"), "web:3000": echo("web")})
		others := map[string]*Site{}
		for i := range 200 {
			others["pr-"+strconv.Itoa(i)] = &Site{Name: "pr-" + strconv.Itoa(i), Routes: []tandem.Route{apiRoute, webRoute}}
		}

		stop := make(chan struct{})
		var ok, failed atomic.Int32
		var clients sync.WaitGroup
		for c := range 8 {
			client := h.client()
			clients.Go(func() {
				for i := 0; ; i++ {
					select {
					case <-stop:
						return
					default:
					}
					path, want := "/api/x/"+strconv.Itoa(c), "api /x/"+strconv.Itoa(c)
					if i%2 == 1 {
						path, want = "/page", "web /page"
					}
					res, err := client.Get(h.URL + path)
					if err != nil {
						failed.Add(1)
						t.Errorf("during Sets: %v", err)
						return
					}
					body, _ := io.ReadAll(res.Body)
					res.Body.Close()
					if res.StatusCode != 200 || string(body) != want {
						failed.Add(1)
						t.Errorf("during Sets: %d %q", res.StatusCode, body)
						return
					}
					ok.Add(1)
				}
			})
		}

		site := h.site
		for i := range 1000 {
			m := make(map[string]*Site, len(others)+1)
			for k, s := range others {
				m[k] = s
			}
			delete(m, "pr-"+strconv.Itoa(i%200))
			m["new-"+strconv.Itoa(i)] = &Site{Name: "new", Routes: []tandem.Route{webRoute}}
			if i%100 == 99 {
				site = &Site{Name: site.Name, Routes: site.Routes, Dial: site.Dial}
			}
			h.gw.Set(&Table{Default: site, Previews: map[string]map[string]*Site{"previews.test": m}})
		}
		close(stop)
		clients.Wait()
		if failed.Load() != 0 || ok.Load() == 0 {
			t.Errorf("%d requests succeeded, %d failed", ok.Load(), failed.Load())
		}
		t.Logf("%d requests during 1000 Sets", ok.Load())
	})
}
