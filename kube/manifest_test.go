package kube

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/tandem-dev/tandem"
)

// The preview article's api service, as its Compose file writes it.
func articleAPI() *tandem.Service {
	return &tandem.Service{
		Name:    "api",
		Image:   "ghcr.io/myorg/api:3f2c1aa",
		Command: []string{"gunicorn", "app.wsgi", "-b", "0.0.0.0:8000"},
		Environment: map[string]string{
			"DATABASE_URL":      "postgres://postgres:postgres@db:5432/app",
			"DJANGO_SECRET_KEY": "s3cr3t-generated-for-pr-7",
		},
		StopSignal: "SIGTERM",
		StopGrace:  1500 * time.Millisecond,
		Limits:     tandem.Limits{Memory: 512 << 20, CPUs: 0.5},
	}
}

func testSandbox() *Sandbox {
	s := &Sandbox{rt: &Runtime{}, spec: tandem.SandboxSpec{Name: "pr-7", Services: []string{"api", "db"}}, data: "/var/lib/tandem/previews/pr-7/1/data"}
	s.ns = namespaceName(tandem.SandboxSpec{Name: s.spec.Name, DataDir: s.data})
	return s
}

func asJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// A pod's manifest carries no value of the environment: generated secrets
// live in a Secret the pod reads, and manifests may be printed or logged.
func TestPodManifestKeepsTheEnvironmentInASecret(t *testing.T) {
	s, svc := testSandbox(), articleAPI()
	pod := asJSON(t, s.pod("api-abc123", svc, "service", nil))
	for _, v := range svc.Environment {
		if strings.Contains(pod, v) {
			t.Errorf("the pod's manifest holds %q:\n%s", v, pod)
		}
	}
	for _, want := range []string{`"secretRef":{"name":"env-api"}`, `"args":["gunicorn","app.wsgi","-b","0.0.0.0:8000"]`,
		`"restartPolicy":"Never"`, `"automountServiceAccountToken":false`, `"terminationGracePeriodSeconds":2`,
		`"memory":"512Mi"`, `"cpu":"500m"`, `"allowPrivilegeEscalation":false`, `"dev.tandem/service":"api"`} {
		if !strings.Contains(pod, want) {
			t.Errorf("the pod's manifest lacks %s:\n%s", want, pod)
		}
	}
	if strings.Contains(pod, `"command"`) {
		t.Errorf("Compose gave no entrypoint, so the image's must run:\n%s", pod)
	}
	if got := string(s.environment(svc).Data["DJANGO_SECRET_KEY"]); got != "s3cr3t-generated-for-pr-7" {
		t.Errorf("the secret holds %q", got)
	}
}

// The digest a kept pod is recognised by changes with what the pod runs,
// and not with the pod's name or the environment's values (the Secret's
// version covers those).
func TestDigestFollowsTheManifest(t *testing.T) {
	s, svc := testSandbox(), articleAPI()
	d := s.digest(svc)
	svc.Environment["DJANGO_SECRET_KEY"] = "another"
	if s.digest(svc) != d {
		t.Error("the digest changed with an environment value")
	}
	svc.Command = []string{"gunicorn", "app.wsgi", "-b", "0.0.0.0:9000"}
	if s.digest(svc) == d {
		t.Error("the digest did not change with the command")
	}
	other := articleAPI()
	other.Image = other.Image + "-v2"
	if s.digest(other) == d {
		t.Error("the digest did not change with the image")
	}
}

// The Service gives the pod its Compose name on every port, ready or not.
func TestServiceIsHeadlessAndNamedAfterTheComposeService(t *testing.T) {
	s := testSandbox()
	got := asJSON(t, s.service(articleAPI()))
	for _, want := range []string{`"name":"api"`, `"clusterIP":"None"`, `"publishNotReadyAddresses":true`,
		`"selector":{"dev.tandem/role":"service","dev.tandem/service":"api"}`} {
		if !strings.Contains(got, want) {
			t.Errorf("service lacks %s:\n%s", want, got)
		}
	}
	if strings.Contains(got, `"ports"`) {
		t.Errorf("a headless Service without ports resolves on every port:\n%s", got)
	}
}

func TestPostgresKeepsItsDataInTheInstanceDirectoryAndStopsOnItsSignal(t *testing.T) {
	s := testSandbox()
	db := &tandem.Service{Name: "db", Image: "postgres:16", StopSignal: "SIGINT", Environment: map[string]string{"POSTGRES_PASSWORD": "pw"}}
	got := asJSON(t, s.pod("db-1", db, "service", nil))
	for _, want := range []string{`"mountPath":"/var/lib/postgresql/data"`, `"path":"/var/lib/tandem/previews/pr-7/1/data/kube/pgdata/db"`,
		`"stopSignal":"SIGINT"`, `"os":{"name":"linux"}`} {
		if !strings.Contains(got, want) {
			t.Errorf("db pod lacks %s:\n%s", want, got)
		}
	}
}

// With storage: claim the data is the service's claim, at a subdirectory
// of it, and the claim asks for the configured class and size.
func TestPostgresOnAClaim(t *testing.T) {
	s := testSandbox()
	s.rt.Storage, s.rt.StorageClass, s.rt.ClaimSize = StorageClaim, "fast", "5Gi"
	db := &tandem.Service{Name: "db", Image: "postgres:16", Environment: map[string]string{"POSTGRES_PASSWORD": "pw"}}
	got := asJSON(t, s.pod("db-1", db, "service", nil))
	for _, want := range []string{`"mountPath":"/var/lib/postgresql/data","subPath":"pgdata"`, `"persistentVolumeClaim":{"claimName":"pgdata-db"}`} {
		if !strings.Contains(got, want) {
			t.Errorf("db pod lacks %s:\n%s", want, got)
		}
	}
	if strings.Contains(got, "hostPath") {
		t.Errorf("db pod on a claim mounts a node directory:\n%s", got)
	}
	claim := asJSON(t, s.claim(db))
	for _, want := range []string{`"name":"pgdata-db"`, `"accessModes":["ReadWriteOnce"]`, `"storage":"5Gi"`, `"storageClassName":"fast"`} {
		if !strings.Contains(claim, want) {
			t.Errorf("claim lacks %s:\n%s", want, claim)
		}
	}
	data := asJSON(t, s.pod("db-data-1", db, "data", []string{"postgres", "-c", "listen_addresses=", "-p", dataPort}))
	if !strings.Contains(data, `"args":["postgres","-c","listen_addresses=","-p","5433"]`) || strings.Contains(data, `"command"`) {
		t.Errorf("the maintenance pod must run the image's entrypoint with the server's arguments:\n%s", data)
	}
}

func TestNetworkPolicyAdmitsOnlyTheNamespaceAndTheGateway(t *testing.T) {
	got := asJSON(t, testSandbox().isolation())
	for _, want := range []string{`"podSelector":{}`, `"policyTypes":["Ingress"]`, `{"podSelector":{}}`, `{"namespaceSelector":{"matchLabels":{"dev.tandem/gateway":"true"}}}`} {
		if !strings.Contains(got, want) {
			t.Errorf("policy lacks %s:\n%s", want, got)
		}
	}
}

func TestNamespaceNames(t *testing.T) {
	a := namespaceName(tandem.SandboxSpec{Name: "pr-7", DataDir: "/a"})
	b := namespaceName(tandem.SandboxSpec{Name: "pr-7", DataDir: "/b"})
	if a == b || !strings.HasPrefix(a, "tandem-pr-7-") {
		t.Errorf("two projects' pr-7: %s and %s", a, b)
	}
	long := namespaceName(tandem.SandboxSpec{Name: strings.Repeat("Feature_Branch.", 10), DataDir: "/a"})
	if len(long) > 63 || strings.ContainsAny(long, "_.ABC") {
		t.Errorf("not a DNS label: %q", long)
	}
}

func TestCheckSaysWhatTheClusterCannotDo(t *testing.T) {
	r := &Runtime{}
	if err := r.Check(articleAPI()); err != nil {
		t.Errorf("the article's api: %v", err)
	}
	built := &tandem.Service{Name: "web", Context: "/src/frontend", DockerBuild: &tandem.DockerBuild{}}
	if err := r.Check(built); err == nil || !strings.Contains(err.Error(), "build and push the image in CI") {
		t.Errorf("build only: %v", err)
	}
	if err := r.Check(&tandem.Service{Name: "my_api", Image: "x"}); err == nil || !strings.Contains(err.Error(), `service "my_api"`) {
		t.Errorf("a name that is no DNS label: %v", err)
	}
	// The seed articles' postgres keeps its data in a named volume: that
	// one is the instance's data directory; a bind mount of the project
	// would be silently missing in a pod.
	db := &tandem.Service{Name: "db", Image: "postgres:16", Mounts: []tandem.Mount{{Type: "volume", Source: "pgdata", Target: "/var/lib/postgresql/data/"}}}
	if err := r.Check(db); err != nil {
		t.Errorf("postgres with its data volume: %v", err)
	}
	api := articleAPI()
	api.Mounts = []tandem.Mount{{Type: "bind", Source: "/src/backend", Target: "/app"}}
	if err := r.Check(api); err == nil || !strings.Contains(err.Error(), "/src/backend at /app") {
		t.Errorf("a bind mount: %v", err)
	}
}

// The healthcheck is the container's readiness probe, with Compose's
// interval, timeout and retries, and a startup probe every second that
// never ends the pod; one-off and maintenance pods have none.
func TestHealthcheckIsTheReadinessProbe(t *testing.T) {
	s, svc := testSandbox(), articleAPI()
	svc.Healthcheck = &tandem.Healthcheck{Test: []string{"CMD-SHELL", "curl -fs http://127.0.0.1:8000/healthz"}, Interval: 2 * time.Second, Timeout: 1500 * time.Millisecond, Retries: 4}
	pod := asJSON(t, s.pod("api-abc123", svc, "service", nil))
	for _, want := range []string{
		`"readinessProbe":{"exec":{"command":["/bin/sh","-c","curl -fs http://127.0.0.1:8000/healthz"]},"timeoutSeconds":2,"periodSeconds":2,"successThreshold":1,"failureThreshold":4}`,
		`"startupProbe":{"exec":{"command":["/bin/sh","-c","curl -fs http://127.0.0.1:8000/healthz"]},"timeoutSeconds":2,"periodSeconds":1,"successThreshold":1,"failureThreshold":2147483647}`,
	} {
		if !strings.Contains(pod, want) {
			t.Errorf("the pod's manifest lacks %s:\n%s", want, pod)
		}
	}
	for _, role := range []string{"exec", "data"} {
		if pod := asJSON(t, s.pod("api-x", svc, role, []string{"true"})); strings.Contains(pod, "Probe") {
			t.Errorf("a pod of role %s has probes:\n%s", role, pod)
		}
	}
	svc.Healthcheck = &tandem.Healthcheck{Test: []string{"NONE"}}
	if pod := asJSON(t, s.pod("api-x", svc, "service", nil)); strings.Contains(pod, "Probe") {
		t.Errorf("healthcheck NONE, yet probes:\n%s", pod)
	}
}
