//go:build kubernetes

package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/kubernetes/scheme"
	appsv1client "k8s.io/client-go/kubernetes/typed/apps/v1"
	corev1client "k8s.io/client-go/kubernetes/typed/core/v1"
	rbacv1client "k8s.io/client-go/kubernetes/typed/rbac/v1"

	"github.com/tandem-dev/tandem/internal/testprovisioner"
)

// ciPush builds CI's images of the test stack's api and web (tagged
// registry/SERVICE:sha, the page saying greeting) and puts them in the
// cluster, as a push to its registry would.
func ciPush(t *testing.T, registry, sha, greeting string) {
	t.Helper()
	src := filepath.Dir(dockerStack(t))
	for _, svc := range []string{"api", "web"} {
		ref := registry + "/" + svc + ":" + sha
		for _, args := range [][]string{
			{"docker", "build", "-q", "--build-arg", "GREETING=" + greeting, "-t", ref, filepath.Join(src, svc)},
			{filepath.Join(repoRoot(t), "scripts", "k8s-cluster"), "images", ref},
			{"docker", "rmi", ref},
		} {
			if out, err := exec.Command(args[0], args[1:]...).CombinedOutput(); err != nil {
				t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
			}
		}
	}
}

// manifests decodes the documents of a YAML file of Kubernetes objects.
func manifests(t *testing.T, file string) []runtime.Object {
	t.Helper()
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var objs []runtime.Object
	r := yaml.NewYAMLReader(bufio.NewReader(f))
	for {
		doc, err := r.Read()
		if err == io.EOF {
			return objs
		}
		if err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		if len(bytes.TrimSpace(doc)) == 0 {
			continue
		}
		obj, _, err := scheme.Codecs.UniversalDeserializer().Decode(doc, nil, nil)
		if err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		objs = append(objs, obj)
	}
}

// tandem serve in a pod, installed by examples/kubernetes/tandem-serve.yaml
// as a user would (its namespace, service account, cluster role, config,
// StatefulSet and Service; only the image, the repository and the storage
// class are the test's): with the in-cluster configuration and no more
// rights than the example's ClusterRole, it makes a preview, and its
// gateway reaches the preview's pods at their addresses through the
// preview's NetworkPolicy (which admits the gateway's namespace by its
// label).
func TestServeKubernetesFromInsideTheCluster(t *testing.T) {
	_, cfg, core := kubeClients(t, "local/busybox", "postgres:16", "local/debian-stack")
	apps, err := appsv1client.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	rbac, err := rbacv1client.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()

	// The image: this test binary (tandem, with the kubernetes runtime)
	// on the stack image, which has git.
	image := "local/tandem-in-cluster:test"
	dir := t.TempDir()
	bin, err := os.ReadFile(os.Args[0])
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(dir, "tandem"), string(bin))
	os.Chmod(filepath.Join(dir, "tandem"), 0o755)
	writeFile(t, filepath.Join(dir, "Dockerfile"), "FROM local/debian-stack\nCOPY tandem /usr/local/bin/tandem\nENV TANDEM_TEST_MAIN=1\nENTRYPOINT [\"/usr/local/bin/tandem\"]\n")
	for _, args := range [][]string{
		{"docker", "build", "-q", "--network", "none", "-t", image, dir},
		{filepath.Join(repoRoot(t), "scripts", "k8s-cluster"), "images", image},
		{"docker", "rmi", image},
	} {
		cmd := exec.Command(args[0], args[1:]...)
		cmd.Env = append(os.Environ(), "DOCKER_BUILDKIT=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	const registry = "registry.example.test/shop"
	repo := filepath.Join(t.TempDir(), "shop")
	writeFile(t, filepath.Join(repo, "compose.yml"), fmt.Sprintf(kubePreviewFile(), registry, "${GIT_SHA}"))
	ciPush(t, registry, commitAll(t, repo), "built by CI")
	testprovisioner.Start(t, cfg)
	before := tandemNamespaces(t, core)

	// The test cluster has no service proxy: the API server's Service
	// address (what a pod's in-cluster configuration names) leads nowhere,
	// and the API server listens on the node's loopback. A relay on the
	// node's address stands in for the proxy; its certificate names that
	// address.
	apiHost, apiPort := apiRelay(t, cfg.Host)

	// The example's objects, as kubectl apply would make them.
	var ns string
	for _, obj := range manifests(t, filepath.Join(repoRoot(t), "examples", "kubernetes", "tandem-serve.yaml")) {
		switch o := obj.(type) {
		case *corev1.Namespace:
			ns = o.Name
			_, err = core.Namespaces().Create(ctx, o, metav1.CreateOptions{})
			t.Cleanup(func() { deleteNamespace(t, core, o.Name) })
		case *corev1.ServiceAccount:
			_, err = core.ServiceAccounts(o.Namespace).Create(ctx, o, metav1.CreateOptions{})
		case *rbacv1.ClusterRole:
			_, err = rbac.ClusterRoles().Create(ctx, o, metav1.CreateOptions{})
			t.Cleanup(func() { rbac.ClusterRoles().Delete(context.Background(), o.Name, metav1.DeleteOptions{}) })
		case *rbacv1.ClusterRoleBinding:
			_, err = rbac.ClusterRoleBindings().Create(ctx, o, metav1.CreateOptions{})
			t.Cleanup(func() { rbac.ClusterRoleBindings().Delete(context.Background(), o.Name, metav1.DeleteOptions{}) })
		case *corev1.ConfigMap:
			// The example's configuration, with the test's repository
			// (a directory of the node) and storage class.
			y := o.Data["tandem.yaml"]
			for old, new := range map[string]string{
				"https://git.example.com/myorg/shop.git": "/repo\n    access: public",
				"  storage: claim":                       "  storage_class: " + testprovisioner.Class + "\n  storage: claim",
			} {
				if !strings.Contains(y, old) {
					t.Fatalf("the example's tandem.yaml has no %q:\n%s", old, y)
				}
				y = strings.Replace(y, old, new, 1)
			}
			o.Data["tandem.yaml"] = y
			_, err = core.ConfigMaps(o.Namespace).Create(ctx, o, metav1.CreateOptions{})
		case *appsv1.StatefulSet:
			spec := &o.Spec.Template.Spec
			c := &spec.Containers[0]
			c.Image, c.ImagePullPolicy = image, corev1.PullNever
			c.Env = append(c.Env, corev1.EnvVar{Name: "KUBERNETES_SERVICE_HOST", Value: apiHost}, corev1.EnvVar{Name: "KUBERNETES_SERVICE_PORT", Value: apiPort})
			c.VolumeMounts = append(c.VolumeMounts, corev1.VolumeMount{Name: "repo", MountPath: "/repo", ReadOnly: true})
			spec.Volumes = append(spec.Volumes, corev1.Volume{Name: "repo", VolumeSource: corev1.VolumeSource{
				HostPath: &corev1.HostPathVolumeSource{Path: repo}}})
			class := testprovisioner.Class
			o.Spec.VolumeClaimTemplates[0].Spec.StorageClassName = &class
			_, err = apps.StatefulSets(o.Namespace).Create(ctx, o, metav1.CreateOptions{})
		case *corev1.Service:
			_, err = core.Services(o.Namespace).Create(ctx, o, metav1.CreateOptions{})
		default:
			t.Fatalf("the example holds a %T the test does not make", obj)
		}
		if err != nil {
			t.Fatalf("%T: %v", obj, err)
		}
	}
	t.Cleanup(func() {
		// Previews a failed test left: their namespaces.
		for _, name := range tandemNamespaces(t, core) {
			if !slices.Contains(before, name) {
				deleteNamespace(t, core, name)
			}
		}
	})

	// tandem-0 serves, reached at its pod's address.
	var pod *corev1.Pod
	eventually(t, "tandem serve to start in its pod", 3*time.Minute, func() string {
		pod, err = core.Pods(ns).Get(ctx, "tandem-0", metav1.GetOptions{})
		if err != nil {
			return err.Error()
		}
		logs, _ := core.Pods(ns).GetLogs(pod.Name, &corev1.PodLogOptions{}).DoRaw(ctx)
		for _, c := range pod.Status.ContainerStatuses {
			if c.RestartCount > 0 || c.State.Terminated != nil {
				prev, _ := core.Pods(ns).GetLogs(pod.Name, &corev1.PodLogOptions{Previous: c.RestartCount > 0}).DoRaw(ctx)
				t.Fatalf("tandem serve ended in its pod: %s", prev)
			}
		}
		if !strings.Contains(string(logs), "tandem: serving previews") || pod.Status.PodIP == "" {
			return fmt.Sprintf("%s; its output: %s", pod.Status.Phase, logs)
		}
		return ""
	})
	token, code := containerExec(t, cfg, ns, pod.Name, "tandem", "cat", "/var/lib/tandem/api-token")
	if code != 0 {
		t.Fatalf("its API token: %d %s", code, token)
	}
	tokenFile := filepath.Join(t.TempDir(), "token")
	writeFile(t, tokenFile, token)
	api := "http://" + pod.Status.PodIP + ":7070"
	s := &server{t: t, gateway: pod.Status.PodIP + ":8080"}
	cli := func(args ...string) (int, string) {
		return run(t, append(append([]string{"preview"}, args...), "--server", api, "--token-file", tokenFile)...)
	}

	began := time.Now()
	if code, out := cli("create", "pr-1", "--repo", "shop"); code != 0 || !strings.Contains(out, "pr-1 is ready in") {
		logs, _ := core.Pods(ns).GetLogs(pod.Name, &corev1.PodLogOptions{}).DoRaw(ctx)
		t.Fatalf("create: %d\n%s\ntandem's output:\n%s", code, out, logs)
	}
	t.Logf("pr-1, made by tandem serve in its pod, was ready in %s", time.Since(began).Round(time.Millisecond))
	if r := s.get("pr-1", "/", nil); r.status != 200 || strings.TrimSpace(r.body) != "built by CI" {
		t.Errorf("GET / = %d %q, want the page of CI's web image", r.status, r.body)
	}
	if r := s.get("pr-1", "/api/cgi-bin/host", nil); r.status != 200 || strings.TrimSpace(r.body) != "host=pr-1.previews.example.com" {
		t.Errorf("the API saw %d %q through the gateway, want the preview's host", r.status, r.body)
	}
	made := slices.DeleteFunc(tandemNamespaces(t, core), func(n string) bool { return slices.Contains(before, n) })
	if len(made) != 1 {
		t.Fatalf("namespaces made: %v, want the preview's", made)
	}
	if code, out := cli("destroy", "pr-1"); code != 0 || !strings.Contains(out, "pr-1 destroyed") {
		t.Fatalf("destroy: %d %s", code, out)
	}
	if left := slices.DeleteFunc(tandemNamespaces(t, core), func(n string) bool { return slices.Contains(before, n) }); len(left) != 0 {
		t.Errorf("after destroy: %v", left)
	}

	// In a pod, databases on the node are refused: they would be
	// directories of some node, not of tandem's pod.
	out, code := containerExec(t, cfg, ns, pod.Name, "tandem", "sh", "-c",
		`mkdir -p /tmp/s && printf 'services:\n  db:\n    image: postgres:16\n' >/tmp/s/compose.yml && exec tandem up -f /tmp/s/compose.yml --runtime kubernetes --listen 127.0.0.1:18080`)
	if code == 0 || !strings.Contains(out, `tandem runs in a pod (in-cluster configuration), where storage "node" would keep databases`) {
		t.Errorf("tandem up in a pod with storage node: exit %d\n%s", code, out)
	}
}

// deleteNamespace deletes namespace name and waits until it is gone.
func deleteNamespace(t *testing.T, core corev1client.CoreV1Interface, name string) {
	ctx := context.Background()
	if err := core.Namespaces().Delete(ctx, name, metav1.DeleteOptions{}); apierrors.IsNotFound(err) {
		return
	} else if err != nil {
		t.Errorf("delete namespace %s: %v", name, err)
		return
	}
	for deadline := time.Now().Add(3 * time.Minute); time.Now().Before(deadline); time.Sleep(500 * time.Millisecond) {
		if _, err := core.Namespaces().Get(ctx, name, metav1.GetOptions{}); apierrors.IsNotFound(err) {
			return
		}
	}
	t.Errorf("namespace %s is still there 3 minutes after its deletion", name)
}

// apiRelay relays connections to the node's address (10.250.0.1, which
// scripts/k8s-cluster puts on loopback and in the API server's certificate)
// to the API server at server, until t ends; it returns the relay's host and
// port.
func apiRelay(t *testing.T, server string) (string, string) {
	t.Helper()
	u, err := url.Parse(server)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "10.250.0.1:0")
	if err != nil {
		t.Fatalf("a relay to the API server on the node's address: %v", err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				up, err := net.Dial("tcp", u.Host)
				if err != nil {
					return
				}
				defer up.Close()
				go func() { io.Copy(up, c); up.(*net.TCPConn).CloseWrite() }()
				io.Copy(c, up)
			}()
		}
	}()
	host, port, _ := net.SplitHostPort(ln.Addr().String())
	return host, port
}
