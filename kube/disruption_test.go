package kube

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/tandem-dev/tandem"
	"github.com/tandem-dev/tandem/internal/testutil"
)

// A pod the cluster takes away (evicted, as kubectl drain does) is
// replaced by a new one, as a Deployment would: the service keeps running,
// and Wait does not return. Its own exit is not replaced: the supervisor
// applies Compose's restart policy to that. Stop ends it for good.
func TestAPodTheClusterTakesAwayIsReplaced(t *testing.T) {
	r := cluster(t)
	cs, err := r.client()
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	sb, err := r.NewSandbox(ctx, tandem.SandboxSpec{Name: "disrupt", Services: []string{"web"}, DataDir: t.TempDir(), Ports: []int{8000}})
	if err != nil {
		t.Fatal(err)
	}
	defer sb.Close()
	svc := &tandem.Service{Name: "web", Image: "local/busybox", StopGrace: time.Second, Command: []string{"sh", "-c",
		"mkdir -p /www && hostname >/www/index.html && httpd -p 8000 -h /www && until [ -f /tmp/end ]; do sleep 0.2; done; exit 3"}}
	var out testutil.Buffer
	p, err := sb.Start(ctx, svc, &out, &out)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Stop(ctx, 0)
	// answers is the pod that answered web:8000, "" until one does.
	answers := func() string {
		for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
			c, err := sb.DialContext(ctx, "tcp", "web:8000")
			if err != nil {
				continue
			}
			fmt.Fprintf(c, "GET / HTTP/1.0\r\n\r\n")
			c.SetReadDeadline(time.Now().Add(5 * time.Second))
			b, _ := io.ReadAll(bufio.NewReader(c))
			c.Close()
			if _, body, ok := strings.Cut(string(b), "\r\n\r\n"); ok {
				return strings.TrimSpace(body)
			}
		}
		return ""
	}
	first := p.(*proc).pod()
	if got := answers(); got != first {
		t.Fatalf("web:8000 answered %q, want its pod %s", got, first)
	}

	err = cs.Core.Pods(sb.(*Sandbox).ns).EvictV1(ctx, &policyv1.Eviction{ObjectMeta: metav1.ObjectMeta{Name: first, Namespace: sb.(*Sandbox).ns}})
	if err != nil {
		t.Fatalf("evict %s: %v", first, err)
	}
	var second string
	for deadline := time.Now().Add(2 * time.Minute); ; time.Sleep(200 * time.Millisecond) {
		if second = p.(*proc).pod(); second != first && answers() == second {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no new pod answers after %s was evicted (now %s):\n%s", first, second, out.String())
		}
	}
	select {
	case <-p.(*proc).done:
		t.Fatalf("the service ended when its pod was evicted: %v", p.Wait())
	default:
	}
	if want := "its pod " + first + " was "; !strings.Contains(out.String(), want) || !strings.Contains(out.String(), "runs again in pod "+second) {
		t.Errorf("tandem did not say it replaced the pod:\n%s", out.String())
	}
	t.Logf("its output:\n%s", out.String())

	// The service's own exit ends it.
	var quiet testutil.Buffer
	if err := sb.Exec(ctx, svc, []string{"touch", "/tmp/end"}, &quiet, &quiet); err != nil {
		t.Fatalf("touch /tmp/end: %v %s", err, quiet.String())
	}
	select {
	case <-p.(*proc).done:
	case <-time.After(time.Minute):
		t.Fatalf("the service's own end did not end it (pod now %s)", p.(*proc).pod())
	}
	if err, ok := p.Wait().(*tandem.ExitError); !ok || err.Code != 3 {
		t.Errorf("Wait: %v, want exit status 3", p.Wait())
	}
	if now := p.(*proc).pod(); now != second {
		t.Errorf("its own exit was replaced by pod %s", now)
	}
}
