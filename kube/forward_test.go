package kube

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/tandem-dev/tandem"
)

// Through the API server the gateway reaches what listens only on the
// pod's loopback, which its address does not: the connection really is a
// port-forward. A port nothing listens on ends with the kubelet's reason.
func TestPortForwardReachesWhatOnlyThePodSees(t *testing.T) {
	r := cluster(t)
	r.Dial = DialPortForward
	sb, err := r.NewSandbox(context.Background(), tandem.SandboxSpec{Name: "forward", Services: []string{"x"}, DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer sb.Close()
	svc := &tandem.Service{Name: "x", Image: "local/busybox", StopGrace: time.Second, Command: []string{"sh", "-c",
		"mkdir -p /tmp/w && echo inside > /tmp/w/index.html && exec busybox httpd -f -p 127.0.0.1:8080 -h /tmp/w"}}
	p, err := sb.Start(context.Background(), svc, io.Discard, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Stop(context.Background(), 0)

	get := func() (string, error) {
		c := &http.Client{Transport: &http.Transport{DialContext: sb.DialContext}, Timeout: 10 * time.Second}
		defer c.CloseIdleConnections()
		resp, err := c.Get("http://x:8080/")
		if err != nil {
			return "", err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		return fmt.Sprintf("%d %s", resp.StatusCode, b), err
	}
	var got string
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		if got, err = get(); err == nil || time.Now().After(deadline) {
			break
		}
	}
	if got != "200 inside\n" {
		t.Fatalf("through the API server: %q %v", got, err)
	}
	// Many connections, one after another and at once, on one tunnel.
	errs := make(chan error, 20)
	for range 20 {
		go func() {
			got, err := get()
			if err == nil && got != "200 inside\n" {
				err = fmt.Errorf("%q", got)
			}
			errs <- err
		}()
	}
	for range 20 {
		if err := <-errs; err != nil {
			t.Errorf("a concurrent request: %v", err)
		}
	}

	r.Dial = DialPodIP
	if got, err := get(); err == nil {
		t.Errorf("the pod's address reached its loopback: %q", got)
	}
	r.Dial = DialPortForward

	c, err := sb.DialContext(context.Background(), "tcp", "x:3999")
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	_, err = c.Read(make([]byte, 1))
	if err == nil || !strings.Contains(err.Error(), "port-forward to x-") || !strings.Contains(err.Error(), "3999") {
		t.Errorf("reading from a port nothing listens on: %v, want the kubelet's reason", err)
	}
}
