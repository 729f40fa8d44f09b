package gateway

import (
	"runtime"
	"strconv"
	"testing"

	"github.com/tandem-dev/tandem"
)

// Ten thousand previews loaded cost the gateway little memory each: routes
// compiled, nothing per upstream until a request comes.
func TestTableMemory(t *testing.T) {
	const n = 10000
	routes := []tandem.Route{
		{Path: "/api/", Service: "api", Port: 8000, StripPrefix: true, Errors: tandem.ErrorsJSON},
		{Path: "/_next/webpack-hmr", Service: "web", Port: 3000},
		{Path: "/", Service: "web", Port: 3000},
	}
	previews := make(map[string]*Site, n)
	for i := range n {
		name := "pr-" + strconv.Itoa(i)
		previews[name] = &Site{Name: name, Routes: routes}
	}
	g := New(Options{})
	before := heap()
	g.Set(&Table{Previews: map[string]map[string]*Site{"previews.example.com": previews}})
	perSite := (heap() - before) / n
	t.Logf("%d bytes per site", perSite)
	if perSite > 3<<10 {
		t.Errorf("%d bytes of heap per site, want at most 3 KiB", perSite)
	}
	// A Set that changes one site reuses the other 9,999.
	before = heap()
	previews["pr-1"] = &Site{Name: "pr-1", Routes: routes}
	g.Set(&Table{Previews: map[string]map[string]*Site{"previews.example.com": previews}})
	if grown := int64(heap()) - int64(before); grown > 2<<20 {
		t.Errorf("a Set changing one site grew the heap by %d bytes", grown)
	}
	runtime.KeepAlive(previews)
}

func heap() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}
