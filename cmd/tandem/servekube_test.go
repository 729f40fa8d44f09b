//go:build kubernetes

package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/scheme"
	corev1client "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/client-go/tools/remotecommand"
	utilexec "k8s.io/client-go/util/exec"

	"github.com/tandem-dev/tandem/internal/testprovisioner"
)

// needKube returns the kubeconfig of the cluster the kubernetes runtime's
// tests run on (make test-k8s starts one), skipping the test without one.
func needKube(t *testing.T) string {
	t.Helper()
	kc := os.Getenv("TANDEM_KUBECONFIG")
	if kc == "" {
		t.Skip("no cluster: TANDEM_KUBECONFIG is not set (make test-k8s starts one)")
	}
	return kc
}

// kubeClients is needKube, with the cluster's configuration and its core
// API; it skips the test unless Docker has images too.
func kubeClients(t *testing.T, images ...string) (string, *rest.Config, corev1client.CoreV1Interface) {
	t.Helper()
	kc := needKube(t)
	needDocker(t, images...)
	cfg, err := clientcmd.BuildConfigFromFlags("", kc)
	if err != nil {
		t.Fatal(err)
	}
	core, err := corev1client.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return kc, cfg, core
}

// podExec runs argv in a pod's container, as kubectl exec does, and returns
// what it printed and its exit status.
func podExec(t *testing.T, cfg *rest.Config, ns, pod string, argv ...string) (string, int) {
	t.Helper()
	return containerExec(t, cfg, ns, pod, "main", argv...)
}

// containerExec is podExec in the pod's container named container.
func containerExec(t *testing.T, cfg *rest.Config, ns, pod, container string, argv ...string) (string, int) {
	t.Helper()
	core, err := corev1client.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	req := core.RESTClient().Post().Resource("pods").Namespace(ns).Name(pod).SubResource("exec").
		VersionedParams(&corev1.PodExecOptions{Container: container, Command: argv, Stdout: true, Stderr: true}, scheme.ParameterCodec)
	ex, err := remotecommand.NewWebSocketExecutor(cfg, http.MethodGet, req.URL().String())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var stdout, stderr bytes.Buffer
	err = ex.StreamWithContext(ctx, remotecommand.StreamOptions{Stdout: &stdout, Stderr: &stderr})
	var exit utilexec.CodeExitError
	switch {
	case err == nil:
		return stdout.String() + stderr.String(), 0
	case errors.As(err, &exit):
		return stdout.String() + stderr.String(), exit.Code
	}
	t.Fatalf("exec %v in %s/%s: %v", argv, ns, pod, err)
	return "", -1
}

// servicePods maps each running service pod of the namespaces (not
// one-off exec pods, nor a one-shot service that has done its work) to its
// UID, which a pod made again would not have.
func servicePods(t *testing.T, core corev1client.CoreV1Interface, nss ...string) map[string]string {
	t.Helper()
	uids := map[string]string{}
	for _, ns := range nss {
		list, err := core.Pods(ns).List(context.Background(), metav1.ListOptions{LabelSelector: "dev.tandem/role=service"})
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range list.Items {
			if p.DeletionTimestamp == nil && p.Status.Phase == corev1.PodRunning {
				uids[ns+"/"+p.Name] = string(p.UID)
			}
		}
	}
	return uids
}

// podTimes says, for each service pod of ns, when the API server made it
// and when its container started running, in seconds from t0 (a phase
// figure the preview's own steps do not split; the API server records
// whole seconds).
func podTimes(t *testing.T, core corev1client.CoreV1Interface, ns string, t0 time.Time) string {
	t.Helper()
	list, err := core.Pods(ns).List(context.Background(), metav1.ListOptions{LabelSelector: "dev.tandem/role=service"})
	if err != nil {
		t.Fatal(err)
	}
	t0 = t0.Truncate(time.Second)
	var lines []string
	for _, p := range list.Items {
		line := fmt.Sprintf("  %-4s made at +%.0f s", p.Labels["dev.tandem/service"], p.CreationTimestamp.Sub(t0).Seconds())
		for _, c := range p.Status.ContainerStatuses {
			if r := c.State.Running; r != nil {
				line += fmt.Sprintf(", running at +%.0f s", r.StartedAt.Sub(t0).Seconds())
			}
		}
		lines = append(lines, line)
	}
	slices.Sort(lines)
	return strings.Join(lines, "\n")
}

// kubePreviewFile is previewFile with a one-shot migrate service, as the
// seed article's stacks have: it seeds each preview's database before the
// api starts (service_completed_successfully), and may run again (a
// restarted server starts it as docker compose up would). It waits until
// db answers, as migrate commands do: a pod that has just started is
// refused by its peers for a moment on a cluster that enforces
// NetworkPolicies (docs/runtimes.md), though db is healthy.
func kubePreviewFile() string {
	const migrate = `  migrate:
    image: postgres:16
    depends_on: { db: { condition: service_healthy } }
    command: ["sh", "-c", "until pg_isready -q -h db -U app; do sleep 0.2; done; exec psql -h db -U app -d shop -v ON_ERROR_STOP=1 -c \"$$SQL\""]
    environment:
      PGPASSWORD: pw
      SQL: CREATE TABLE IF NOT EXISTS notes (id int PRIMARY KEY, note text); INSERT INTO notes VALUES (1, 'seeded for ${PREVIEW_NAME}') ON CONFLICT DO NOTHING
`
	// In previewFile only the api depends on db.
	f := strings.Replace(previewFile, "depends_on: { db: { condition: service_healthy } }",
		"depends_on: { db: { condition: service_healthy }, migrate: { condition: service_completed_successfully } }", 1)
	return strings.Replace(f, "  api:\n", migrate+"  api:\n", 1)
}

// notes is what preview p's database holds, asked in its db pod.
func notes(t *testing.T, cfg *rest.Config, ns, db, sql string) string {
	t.Helper()
	out, code := podExec(t, cfg, ns, db, "sh", "-c", "PGPASSWORD=pw psql -h 127.0.0.1 -U app -d shop -v ON_ERROR_STOP=1 -tAc \""+sql+"\"")
	if code != 0 {
		t.Errorf("%s in %s: exit %d %s", sql, ns, code, out)
	}
	return out
}

// tandemNamespaces lists the cluster's namespaces tandem made.
func tandemNamespaces(t *testing.T, core corev1client.CoreV1Interface) []string {
	t.Helper()
	list, err := core.Namespaces().List(context.Background(), metav1.ListOptions{LabelSelector: "app.kubernetes.io/managed-by=tandem"})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, ns := range list.Items {
		if ns.DeletionTimestamp == nil {
			names = append(names, ns.Name)
		}
	}
	slices.Sort(names)
	return names
}

// tandem serve with runtime: kubernetes serves the preview article's
// preview file as two previews, each a namespace of a real cluster with its
// own database, at their hosts, with the routes and Host semantics of
// tandem up. CI's images (tagged with the commit) are in the cluster as a
// push to its registry would put them. A server killed with SIGKILL and
// started again serves both again with nothing duplicated; destroy removes
// the preview's namespace.
func TestServeKubernetesPreviewsOfCIImages(t *testing.T) {
	kc, cfg, core := kubeClients(t, "local/busybox", "postgres:16")
	const registry = "registry.example.test/shop"
	repo := filepath.Join(t.TempDir(), "shop")
	writeFile(t, filepath.Join(repo, "compose.yml"), fmt.Sprintf(kubePreviewFile(), registry, "${GIT_SHA}"))
	sha := commitAll(t, repo)
	ciPush(t, registry, sha, "built by CI")

	// The databases live on claims, provisioned as a real cluster's are
	// (the test cluster has no provisioner of its own).
	testprovisioner.Start(t, cfg)
	s := configuredServer(t, fmt.Sprintf(`runtime: kubernetes
kubernetes:
  kubeconfig: %s
  storage: claim
  storage_class: `+testprovisioner.Class+`
repos:
  - name: shop
    url: %s
    compose: compose.yml
    access: public
`, kc, repo))
	// Only namespaces made from here on count: what earlier tests left
	// may be swept meanwhile (tandem deletes a namespace whose data
	// directory is gone).
	before := tandemNamespaces(t, core)
	fresh := func() []string {
		return slices.DeleteFunc(tandemNamespaces(t, core), func(ns string) bool { return slices.Contains(before, ns) })
	}
	s.start()
	if !strings.Contains(s.proc.out.String(), "previews run on the kubernetes runtime") {
		t.Errorf("tandem serve does not say it runs previews on the kubernetes runtime:\n%s", s.proc.out.String())
	}

	var wg sync.WaitGroup
	created := time.Now()
	for _, name := range []string{"pr-1", "pr-2"} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			began := time.Now()
			code, out := s.cli("create", name, "--repo", "shop")
			if code != 0 || !strings.Contains(out, name+" is ready in") {
				t.Errorf("create %s: %d\n%s", name, code, out)
				return
			}
			t.Logf("%s was ready in %s; its steps:\n%s", name, time.Since(began).Round(time.Millisecond), out)
		}()
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	answers := func(name string) {
		t.Helper()
		if r := s.get(name, "/", nil); r.status != 200 || strings.TrimSpace(r.body) != "built by CI" {
			t.Errorf("%s: GET / = %d %q, want the page of CI's web image", name, r.status, r.body)
		}
		if r := s.get(name, "/api/cgi-bin/host", nil); r.status != 200 || strings.TrimSpace(r.body) != "host="+name+".previews.example.com" {
			t.Errorf("%s: the API saw %d %q through the gateway, want the preview's host", name, r.status, r.body)
		}
		if r := s.get(name, "/cgi-bin/ssr", nil); !strings.Contains(r.body, "host=api:8000") {
			t.Errorf("%s: web's server-side call: %q, want api to see Host api:8000", name, r.body)
		}
	}
	answers("pr-1")
	answers("pr-2")
	made := fresh()
	if len(made) != 2 {
		t.Fatalf("namespaces %v, before %v: want one more per preview", made, before)
	}
	// Each preview's names are its own (db in pr-1's namespace is pr-1's
	// database), and its NetworkPolicy keeps the other's pods out: pr-1's
	// api reaches its own database and not pr-2's by address, and the other
	// way round (the test cluster enforces policies with kube-router).
	type preview struct{ ns, name, api, db, dbIP string }
	var previews []preview
	for _, ns := range made {
		if slices.Contains(before, ns) {
			continue
		}
		p := preview{ns: ns, name: strings.Join(strings.Split(ns, "-")[1:3], "-")}
		for _, svc := range []string{"api", "db"} {
			pods, err := core.Pods(ns).List(context.Background(), metav1.ListOptions{LabelSelector: "dev.tandem/service=" + svc})
			if err != nil || len(pods.Items) != 1 {
				t.Fatalf("%s pods of %s: %v %d", svc, ns, err, len(pods.Items))
			}
			if svc == "api" {
				p.api = pods.Items[0].Name
			} else {
				p.db, p.dbIP = pods.Items[0].Name, pods.Items[0].Status.PodIP
			}
		}
		t.Logf("%s: when each pod was made and its container ran, from the creates (whole seconds):\n%s", ns, podTimes(t, core, ns, created))
		if pvc, err := core.PersistentVolumeClaims(ns).Get(context.Background(), "pgdata-db", metav1.GetOptions{}); err != nil ||
			pvc.Status.Phase != corev1.ClaimBound || pvc.Spec.VolumeName == "" {
			t.Errorf("the database's claim in %s: %v, want bound to a provisioned volume", ns, err)
		}
		if svc, err := core.Services(ns).Get(context.Background(), "db", metav1.GetOptions{}); err != nil || svc.Spec.ClusterIP != "None" {
			t.Errorf("the db Service of %s: %v", ns, err)
		}
		previews = append(previews, p)
	}
	if previews[0].dbIP == previews[1].dbIP {
		t.Fatalf("two previews share a database: %v", previews)
	}
	for i, p := range previews {
		other := previews[1-i]
		if out, code := podExec(t, cfg, p.ns, p.api, "nc", "-w", "3", "db", "5432"); code != 0 {
			t.Errorf("%s's api cannot reach its own database: exit %d %s", p.ns, code, out)
		}
		if out, code := podExec(t, cfg, p.ns, p.api, "nc", "-w", "3", other.dbIP, "5432"); code == 0 {
			t.Errorf("%s's api reached %s's database at %s: %s", p.ns, other.ns, other.dbIP, out)
		}
	}

	// Each database was seeded by its preview's migrate, and is its own:
	// what is written in pr-1's is not in pr-2's.
	for _, p := range previews {
		if got, want := notes(t, cfg, p.ns, p.db, "SELECT note FROM notes ORDER BY id"), "seeded for "+p.name+"\n"; got != want {
			t.Errorf("%s's notes: %q, want %q", p.ns, got, want)
		}
	}
	notes(t, cfg, previews[0].ns, previews[0].db, "INSERT INTO notes VALUES (2, 'only in pr-1')")
	if got := notes(t, cfg, previews[1].ns, previews[1].db, "SELECT count(*) FROM notes"); got != "1\n" {
		t.Errorf("pr-2 holds %q notes after a write to pr-1's database, want 1", got)
	}

	// kill -9: the next server makes each instance again and serves both,
	// with no namespace duplicated or left behind, and every pod kept as it
	// was: nothing of the previews changed.
	// The next server reaches the pods through the API server, as one
	// outside the cluster would: what follows (the previews, the update
	// polled throughout) goes through port-forward.
	pods := servicePods(t, core, previews[0].ns, previews[1].ns)
	s.proc.cmd.Process.Kill()
	<-s.proc.done
	config := filepath.Join(s.dir, "tandem.yaml")
	b, err := os.ReadFile(config)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, config, strings.Replace(string(b), "kubernetes:\n", "kubernetes:\n  dial: port-forward\n", 1))
	s.start()
	if !strings.Contains(s.proc.out.String(), "through the API server's port-forward") {
		t.Errorf("the restarted server does not say it reaches pods by port-forward:\n%s", s.proc.out.String())
	}
	for _, name := range []string{"pr-1", "pr-2"} {
		eventually(t, name+" to serve again", 3*time.Minute, func() string {
			if r := s.get(name, "/", nil); r.status != 200 {
				return fmt.Sprintf("%d %.200s", r.status, r.body)
			}
			return ""
		})
		answers(name)
	}
	if after := fresh(); !slices.Equal(after, made) {
		t.Errorf("namespaces after the restart: %v, want %v", after, made)
	}
	if after := servicePods(t, core, previews[0].ns, previews[1].ns); !maps.Equal(after, pods) || len(pods) != 6 {
		t.Errorf("service pods after the restart: %v, want the same %d as before: %v", after, len(pods), pods)
	}
	// The kept database kept its data; the migrate that ran again added
	// nothing.
	if got, want := notes(t, cfg, previews[0].ns, previews[0].db, "SELECT note FROM notes ORDER BY id"), "seeded for pr-1\nonly in pr-1\n"; got != want {
		t.Errorf("pr-1's notes after the restart: %q, want %q", got, want)
	}

	// An update to a new commit (CI's images of it) answers 200 throughout,
	// and the old instance's namespace goes.
	gitIn(t, repo, "checkout", "-q", "-b", "v2")
	writeFile(t, filepath.Join(repo, "NOTES"), "v2\n")
	gitIn(t, repo, "add", "-A")
	gitIn(t, repo, "commit", "-q", "-m", "v2")
	ciPush(t, registry, gitIn(t, repo, "rev-parse", "HEAD"), "built by CI, v2")
	var code int
	var out string
	n, failures := s.pollDuring("pr-2", []string{"/", "/api/cgi-bin/host"}, func() {
		code, out = s.cli("create", "pr-2", "--repo", "shop", "--ref", "v2")
	})
	if code != 0 {
		t.Fatalf("update: %d %s", code, out)
	}
	if n < 4 || len(failures) > 0 {
		t.Errorf("%d requests during the update, failed: %v", n, failures)
	}
	if r := s.get("pr-2", "/", nil); strings.TrimSpace(r.body) != "built by CI, v2" {
		t.Errorf("after the update: %d %q, want v2's page", r.status, r.body)
	}
	eventually(t, "the old instance's namespace to go", 2*time.Minute, func() string {
		if now := fresh(); len(now) != len(made) {
			return fmt.Sprintf("%v", now)
		}
		return ""
	})
	made = fresh()

	if code, out := s.cli("destroy", "pr-1"); code != 0 || !strings.Contains(out, "pr-1 destroyed") {
		t.Fatalf("destroy: %d %s", code, out)
	}
	if left := fresh(); len(left) != len(made)-1 {
		t.Errorf("after destroy: %v (was %v)", left, made)
	}
	if r := s.get("pr-1", "/", nil); r.status != 404 {
		t.Errorf("a destroyed preview answered %d", r.status)
	}
	if code, out := s.cli("destroy", "pr-2"); code != 0 {
		t.Errorf("destroy pr-2: %d %s", code, out)
	}
	// Their claims went with their namespaces, and the provisioner
	// deleted the volumes (reclaim policy Delete).
	eventually(t, "the destroyed previews' volumes to go", 2*time.Minute, func() string {
		pvs, err := core.PersistentVolumes().List(context.Background(), metav1.ListOptions{LabelSelector: testprovisioner.Label + "=true"})
		if err != nil {
			return err.Error()
		}
		var left []string
		for _, pv := range pvs.Items {
			if ref := pv.Spec.ClaimRef; ref != nil && !slices.Contains(before, ref.Namespace) {
				left = append(left, pv.Name+" of "+ref.Namespace+" ("+string(pv.Status.Phase)+")")
			}
		}
		return strings.Join(left, ", ")
	})
}
