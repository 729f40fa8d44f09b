package metrics

import (
	"io"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/tandem-dev/tandem/gateway"
)

func TestGatewayMetrics(t *testing.T) {
	reg := Registry()
	g := NewGateway(reg)
	g.SitesChanged(3)
	g.RequestStarted("pr-7")
	g.RequestStarted("pr-7")
	g.RequestDone(gateway.RequestInfo{Site: "pr-7", Route: "/api/", Service: "api", Method: "GET", Status: 200, Duration: 3 * time.Millisecond, BytesOut: 120})
	g.RequestStarted("")
	g.RequestDone(gateway.RequestInfo{Method: "BREW", Status: 404, Duration: time.Millisecond})
	g.UpstreamError("pr-7", "api", "dial")

	srv := httptest.NewServer(Handler(reg))
	defer srv.Close()
	resp, err := srv.Client().Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	body := string(b)
	for _, want := range []string{
		`tandem_gateway_instances 3`,
		`tandem_gateway_requests_total{code="200",instance="pr-7",method="GET",route="/api/",service="api"} 1`,
		`tandem_gateway_requests_total{code="404",instance="(none)",method="OTHER",route="",service=""} 1`,
		`tandem_gateway_requests_in_flight{instance="pr-7"} 1`,
		`tandem_gateway_requests_in_flight{instance="(none)"} 0`,
		`tandem_gateway_request_duration_seconds_bucket{instance="pr-7",route="/api/",le="0.005"} 1`,
		`tandem_gateway_response_bytes_total{instance="pr-7",route="/api/"} 120`,
		`tandem_gateway_upstream_errors_total{instance="pr-7",kind="dial",service="api"} 1`,
		`go_goroutines`,
		`process_resident_memory_bytes`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics lack %s", want)
		}
	}

	// A destroyed instance's series go.
	g.RequestDone(gateway.RequestInfo{Site: "pr-7", Route: "/", Method: "GET", Status: 200})
	g.Forget(func(instance string) bool { return instance != "pr-7" })
	resp, _ = srv.Client().Get(srv.URL)
	b, _ = io.ReadAll(resp.Body)
	if strings.Contains(string(b), `instance="pr-7"`) {
		t.Error("the series of a forgotten instance remain")
	}
	if !strings.Contains(string(b), `instance="(none)"`) {
		t.Error("unmatched requests were forgotten")
	}
}
