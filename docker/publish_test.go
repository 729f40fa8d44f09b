package docker

import (
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/client"

	"github.com/tandem-dev/tandem"
	"github.com/tandem-dev/tandem/internal/testutil"
)

// Where tandem cannot enter the engine's namespaces (Docker Desktop), the
// holder publishes the routed ports, on 127.0.0.1 only, and the gateway
// dials those; a port no route names is not reachable at all.
func TestPublishesRoutedPortsOnLoopbackWhereItCannotEnter(t *testing.T) {
	t.Setenv("TANDEM_DOCKER_PUBLISH", "1")
	r := engine(t)
	ctx := context.Background()
	sb, err := r.NewSandbox(ctx, tandem.SandboxSpec{Name: "publish", Services: []string{"api"}, Ports: []int{8000}, DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sb.Close() })
	s := sb.(*Sandbox)
	if s.ns != nil {
		t.Fatal("the sandbox entered the namespace though TANDEM_DOCKER_PUBLISH is set")
	}
	script := `cd /tmp && mkdir -p www && echo published > www/index.html && busybox httpd -p 9000 -h www && exec busybox httpd -f -p 8000 -h www`
	var out testutil.Buffer
	p, err := sb.Start(ctx, &tandem.Service{Name: "api", Image: "local/busybox", Command: []string{"sh", "-c", script}, StopSignal: "SIGTERM"}, &out, &out)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Stop(context.Background(), 0) })
	c := &http.Client{Transport: &http.Transport{DialContext: sb.DialContext, DisableKeepAlives: true}, Timeout: 5 * time.Second}
	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, err := c.Get("http://api:8000/")
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if strings.TrimSpace(string(b)) == "published" {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("api:8000 through the published port: %v\n%s", err, out.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
	if _, err := sb.DialContext(ctx, "tcp", "api:9000"); tandem.ErrorCode(err) != tandem.EUNAVAILABLE {
		t.Errorf("a port no route names: %v, want EUNAVAILABLE", err)
	}
	cli, _ := r.client()
	in, err := cli.ContainerInspect(ctx, s.holder, client.ContainerInspectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for port, bindings := range in.Container.NetworkSettings.Ports {
		for _, b := range bindings {
			n++
			if !b.HostIP.IsLoopback() {
				t.Errorf("port %v is published on %v, not on loopback", port, b.HostIP)
			}
		}
	}
	if n != 1 {
		t.Errorf("%d bindings published, want the one routed port", n)
	}
	for _, ap := range s.ports {
		if c, err := net.DialTimeout("tcp", ap.String(), time.Second); err == nil {
			c.Close()
		} else {
			t.Errorf("the published port %s does not answer on the host's loopback: %v", ap, err)
		}
	}
}
