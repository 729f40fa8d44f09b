// Package kube is tandem's Kubernetes runtime: every stack instance is a
// namespace of its own, every Compose service a Pod in it and a headless
// Service named after it, so that "api:8000" and "db:5432" resolve inside
// the instance as they do under Compose and Django sees Host: api:8000.
// A NetworkPolicy lets a namespace's pods be reached only from that
// namespace (and from namespaces labelled as tandem's gateway).
//
// Services run as Pods with restartPolicy Never, not as Deployments: the
// supervisor applies Compose's restart policies and depends_on conditions
// the same way on every runtime, and a Deployment would restart pods
// behind its back. What a Deployment is for, a pod the cluster takes away
// (a drained node, an eviction, a preemption, a deleted pod), tandem does
// itself: it makes the pod again (process.go). A service's environment is
// a Secret the Pod reads (envFrom), never part of a manifest. Everything
// is applied with server-side apply, field manager "tandem".
//
// Images run as written (image:), pulled as the cluster pulls them; build:
// is not supported: CI builds and pushes the images, as the preview
// article's pipeline does. Database data (postgres:*) lives in the
// instance's data directory as a hostPath volume (Storage StorageNode: tandem
// runs on the cluster's node; snapshots are copies of it, as under the
// docker runtime), or on a PersistentVolumeClaim per database (StorageClaim:
// any node; snapshots are pg_dump archives).
package kube

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"strings"
	"sync"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/client-go/discovery"
	corev1client "k8s.io/client-go/kubernetes/typed/core/v1"
	networkingv1client "k8s.io/client-go/kubernetes/typed/networking/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/tandem-dev/tandem"
	"github.com/tandem-dev/tandem/internal/snapshots"
)

// Labels on everything the runtime makes.
const (
	labelManaged  = "app.kubernetes.io/managed-by" // "tandem"
	labelInstance = "dev.tandem/instance"          // the instance's name, made label-safe
	labelData     = "dev.tandem/data"              // a digest of the instance's data directory
	labelService  = "dev.tandem/service"           // the Compose service a Pod runs
	labelRole     = "dev.tandem/role"              // "service" or "exec"

	// Annotations of a service's pod: what made it, so that a restarted
	// tandem keeps it when it would make the same pod.
	annotationSpec = "dev.tandem/spec" // the digest of the pod a service's spec makes
	annotationEnv  = "dev.tandem/env"  // the resourceVersion of the environment's Secret it read

	// Annotations of an instance's namespace: whose it is.
	annotationDataDir = "dev.tandem/data-dir" // the instance's data directory
	annotationMachine = "dev.tandem/machine"  // the machine that directory is on

	// LabelGateway marks a namespace whose pods may reach every
	// instance: where tandem serve runs when it runs in the cluster.
	LabelGateway = "dev.tandem/gateway"

	fieldManager = "tandem"
)

// Runtime runs stack instances on a Kubernetes cluster.
type Runtime struct {
	// Kubeconfig is the kubeconfig file to use. "": in-cluster
	// configuration when tandem runs in a pod, else $KUBECONFIG or
	// ~/.kube/config.
	Kubeconfig string
	// Context is the kubeconfig context; "" is its current one.
	Context string
	// SnapshotDir is where Snapshot keeps copies of databases.
	SnapshotDir string
	// PullPolicy is the pods' imagePullPolicy: IfNotPresent if empty.
	PullPolicy corev1.PullPolicy
	// Dial is how the gateway reaches pods: DialPodIP (also "") or
	// DialPortForward.
	Dial string
	// Storage is where postgres services keep their data: StorageNode
	// (also "") or StorageClaim.
	Storage string
	// StorageClass is the claims' storage class; "": the cluster's default.
	StorageClass string
	// ClaimSize is each claim's size; "": 1Gi.
	ClaimSize string

	once   sync.Once
	cs     *clients
	config *rest.Config
	err    error
}

// clients are the API groups the runtime uses. (Only these: the whole
// clientset and its informers would double the size of tandem's binary.)
type clients struct {
	Core       corev1client.CoreV1Interface
	Networking networkingv1client.NetworkingV1Interface
	Discovery  discovery.ServerVersionInterface
}

var (
	_ tandem.Runtime     = (*Runtime)(nil)
	_ tandem.DataRemover = (*Runtime)(nil)
)

// New returns the kubernetes runtime for the cluster kubeconfig names.
func New(kubeconfig string) *Runtime { return &Runtime{Kubeconfig: kubeconfig} }

func (*Runtime) Name() string { return "kubernetes" }

// client connects once.
func (r *Runtime) client() (*clients, error) {
	r.once.Do(func() {
		r.config, r.err = r.restConfig()
		if r.err != nil {
			return
		}
		r.cs, r.err = newClients(r.config)
	})
	return r.cs, r.err
}

func newClients(c *rest.Config) (*clients, error) {
	core, err := corev1client.NewForConfig(c)
	if err != nil {
		return nil, err
	}
	net, err := networkingv1client.NewForConfig(c)
	if err != nil {
		return nil, err
	}
	disc, err := discovery.NewDiscoveryClientForConfig(c)
	if err != nil {
		return nil, err
	}
	return &clients{Core: core, Networking: net, Discovery: disc}, nil
}

// inCluster reports whether tandem reaches the cluster by the in-cluster
// configuration of the pod it runs in (as restConfig chooses).
func (r *Runtime) inCluster() bool {
	_, err := r.inClusterConfig()
	return err == nil
}

// inClusterConfig is the pod's in-cluster configuration, unless tandem.yaml
// or $KUBECONFIG names a kubeconfig.
func (r *Runtime) inClusterConfig() (*rest.Config, error) {
	if r.Kubeconfig != "" || os.Getenv("KUBECONFIG") != "" {
		return nil, errors.New("a kubeconfig is named")
	}
	return rest.InClusterConfig()
}

func (r *Runtime) restConfig() (*rest.Config, error) {
	if c, err := r.inClusterConfig(); err == nil {
		c.UserAgent = "tandem"
		return c, nil
	}
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	if r.Kubeconfig != "" {
		rules.ExplicitPath = r.Kubeconfig
	}
	c, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{CurrentContext: r.Context}).ClientConfig()
	if err != nil {
		return nil, tandem.Errorf(tandem.EUNAVAILABLE, "kubernetes: no cluster configuration (%v): set kubernetes.kubeconfig in tandem.yaml or KUBECONFIG", err)
	}
	c.UserAgent = "tandem"
	return c, nil
}

// Available asks the API server for its version.
func (r *Runtime) Available(ctx context.Context) error {
	cs, err := r.client()
	if err != nil {
		return tandem.Errorf(tandem.EUNAVAILABLE, "kubernetes: %v", err)
	}
	// The discovery client takes no context: ask it aside, and stop
	// waiting when ctx ends.
	done := make(chan error, 1)
	go func() {
		_, err := cs.Discovery.ServerVersion()
		done <- err
	}()
	select {
	case err := <-done:
		if err != nil {
			return tandem.Errorf(tandem.EUNAVAILABLE, "the kubernetes runtime needs a cluster, and its API server does not answer (%v): check the kubeconfig", err)
		}
		return nil
	case <-ctx.Done():
		return tandem.Errorf(tandem.EUNAVAILABLE, "the kubernetes runtime needs a cluster, and its API server does not answer: %v", ctx.Err())
	}
}

// Check reports whether svc can run on the cluster: an image to run, and
// a name that is a DNS label, since it becomes the Service's.
func (r *Runtime) Check(svc *tandem.Service) error {
	if errs := validation.IsDNS1035Label(svc.Name); len(errs) > 0 {
		return tandem.Errorf(tandem.EUNSUPPORTED, "service %q: the kubernetes runtime names a Service after it, and %s; rename the service", svc.Name, strings.Join(errs, "; "))
	}
	if svc.Image == "" {
		return tandem.Errorf(tandem.EUNSUPPORTED, "service %q: the kubernetes runtime runs images and does not build them: build and push the image in CI and name it in image: (the preview article's ghcr.io/myorg/api:${GIT_SHA}), or use the process or docker runtime", svc.Name)
	}
	for _, m := range svc.Mounts {
		// A postgres image's data volume is the instance's data
		// directory already; any other would be silently lost.
		if isPostgres(svc) && path.Clean(m.Target) == pgdata(svc) && m.Type == "volume" {
			continue
		}
		return tandem.Errorf(tandem.EUNSUPPORTED, "service %q: the kubernetes runtime does not mount volumes yet (%s at %s): a pod has no host directory of the preview, and named volumes need PersistentVolumeClaims; only a postgres image's data volume is kept", svc.Name, m.Source, m.Target)
	}
	return nil
}

// NewSandbox makes the instance's namespace and its NetworkPolicy, after
// removing what an earlier tandem left of an instance of that name.
func (r *Runtime) NewSandbox(ctx context.Context, spec tandem.SandboxSpec) (tandem.Sandbox, error) {
	if spec.DataDir == "" {
		return nil, tandem.Errorf(tandem.EINVALID, "sandbox %q: no data directory", spec.Name)
	}
	if r.Dial != "" && r.Dial != DialPodIP && r.Dial != DialPortForward {
		return nil, tandem.Errorf(tandem.EINVALID, "kubernetes: dial %q: choose %s or %s", r.Dial, DialPodIP, DialPortForward)
	}
	if r.Storage != "" && r.Storage != StorageNode && r.Storage != StorageClaim {
		return nil, tandem.Errorf(tandem.EINVALID, "kubernetes: storage %q: choose %s or %s", r.Storage, StorageNode, StorageClaim)
	}
	if _, err := resource.ParseQuantity(r.ClaimSize); r.ClaimSize != "" && err != nil {
		return nil, tandem.Errorf(tandem.EINVALID, "kubernetes: claim_size %q: %v", r.ClaimSize, err)
	}
	if r.inCluster() && !r.claims() {
		// hostPath volumes of tandem's data directory would be
		// directories of whichever node a database lands on, not of
		// tandem's pod: the data would be neither seen nor removed.
		return nil, tandem.Errorf(tandem.EUNSUPPORTED, "kubernetes: tandem runs in a pod (in-cluster configuration), where storage %q would keep databases in directories of a node, not in tandem's: use storage %q (kubernetes.storage in tandem.yaml)", StorageNode, StorageClaim)
	}
	if err := r.Available(ctx); err != nil {
		return nil, err
	}
	go r.sweepGone(context.WithoutCancel(ctx))
	return newSandbox(ctx, r, spec)
}

// Where postgres services keep their data (Runtime.Storage).
const (
	// StorageNode is a directory of the instance's data directory on
	// the node tandem runs on (a hostPath volume); snapshots are copies of
	// it. For single-node clusters.
	StorageNode = "node"
	// StorageClaim is a PersistentVolumeClaim per postgres service, on
	// any node; snapshots are archives of the data directory kept by
	// tandem (claim.go). What tandem running in a pod needs.
	StorageClaim = "claim"
)

func (r *Runtime) claims() bool { return r.Storage == StorageClaim }

func (r *Runtime) claimSize() resource.Quantity {
	if q, err := resource.ParseQuantity(r.ClaimSize); r.ClaimSize != "" && err == nil {
		return q
	}
	return resource.MustParse("1Gi")
}

// sweepGone deletes the namespaces of instances whose data directory, on
// this machine, is gone: a destroyed instance's (with claims, Close keeps the
// namespace, where the data is), or one a killed tandem left.
func (r *Runtime) sweepGone(ctx context.Context) {
	r.deleteNamespaces(ctx, func(dir string) bool {
		_, err := os.Stat(dir)
		return filepath.IsAbs(dir) && errors.Is(err, fs.ErrNotExist)
	})
}

// RemoveData deletes the namespaces, claims and all, of this machine's
// instances whose data directories were dir or lay inside it: a destroyed
// preview's claims go at once, not at the next sweep.
func (r *Runtime) RemoveData(ctx context.Context, dir string) error {
	dir = filepath.Clean(dir)
	return r.deleteNamespaces(ctx, func(d string) bool { return d == dir || strings.HasPrefix(d, dir+"/") })
}

// deleteNamespaces deletes the namespaces of this machine's instances, not
// being deleted already, whose data directory is one of those; a failure
// does not stop it, and the first is returned.
func (r *Runtime) deleteNamespaces(ctx context.Context, those func(dataDir string) bool) error {
	cs, err := r.client()
	if err != nil {
		return err
	}
	list, err := cs.Core.Namespaces().List(ctx, metav1.ListOptions{LabelSelector: labelManaged + "=tandem"})
	if err != nil {
		return errorf("the instances' namespaces: %w", err)
	}
	me := machineID()
	var first error
	for _, ns := range list.Items {
		dir := ns.Annotations[annotationDataDir]
		if ns.DeletionTimestamp != nil || dir == "" || ns.Annotations[annotationMachine] != me || !those(dir) {
			continue
		}
		if err := cs.Core.Namespaces().Delete(ctx, ns.Name, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) && first == nil {
			first = errorf("namespace %s: %w", ns.Name, err)
		}
	}
	return first
}

// machineID tells this machine from others that share the cluster:
// /etc/machine-id, else the host's name.
var machineID = sync.OnceValue(func() string {
	if b, err := os.ReadFile("/etc/machine-id"); err == nil && len(bytes.TrimSpace(b)) > 0 {
		return string(bytes.TrimSpace(b))
	}
	h, _ := os.Hostname()
	return h
})

// RemoveSnapshot deletes the copy snapshot id names.
func (r *Runtime) RemoveSnapshot(_ context.Context, id string) error {
	return r.snapshots().Remove(id)
}

func (r *Runtime) snapshots() snapshots.Store {
	return snapshots.Store{Dir: r.SnapshotDir, Prefix: "k8", Runtime: "kubernetes"}
}

// namespaceName is an instance's namespace: unique per data directory, so
// two projects' "local" instances never meet, and readable in kubectl.
func namespaceName(spec tandem.SandboxSpec) string {
	return "tandem-" + labelSafe(spec.Name, 40) + "-" + dataDigest(spec.DataDir)
}

func dataDigest(dir string) string {
	h := sha256.Sum256([]byte(dir))
	return hex.EncodeToString(h[:4])
}

var unsafeLabel = regexp.MustCompile(`[^a-z0-9-]+`)

// labelSafe makes s a DNS label of at most n characters.
func labelSafe(s string, n int) string {
	s = strings.Trim(unsafeLabel.ReplaceAllString(strings.ToLower(s), "-"), "-")
	if len(s) > n {
		s = strings.Trim(s[:n], "-")
	}
	if s == "" {
		return "x"
	}
	return s
}

func errorf(format string, args ...any) error { return fmt.Errorf("kubernetes: "+format, args...) }
