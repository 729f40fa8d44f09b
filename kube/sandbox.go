package kube

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/tools/cache"

	"github.com/tandem-dev/tandem"
	"github.com/tandem-dev/tandem/internal/netns"
	"github.com/tandem-dev/tandem/internal/running"
)

// Sandbox is one stack instance: its namespace, and the pods running in it,
// watched through one informer.
//
// The instance's data directory holds kube/pgdata/SVC, the data of each
// postgres service (a hostPath volume of its pod).
type Sandbox struct {
	rt     *Runtime
	cs     *clients
	spec   tandem.SandboxSpec
	data   string // spec.DataDir, absolute
	ns     string // the namespace
	dialer net.Dialer

	stop    chan struct{} // ends the informer
	watched chan struct{} // closed on every pod event, then replaced

	procs   running.Set[*proc] // running services, by service
	tunnels tunnels            // to pods, when Runtime.Dial is DialPortForward

	mu   sync.Mutex
	pods map[string]*corev1.Pod // as last seen, by name
}

var _ tandem.Sandbox = (*Sandbox)(nil)

func newSandbox(ctx context.Context, r *Runtime, spec tandem.SandboxSpec) (_ *Sandbox, err error) {
	cs, err := r.client()
	if err != nil {
		return nil, err
	}
	s := &Sandbox{rt: r, cs: cs, spec: spec, stop: make(chan struct{}), watched: make(chan struct{}),
		pods: map[string]*corev1.Pod{}}
	if s.data, err = filepath.Abs(spec.DataDir); err != nil {
		return nil, err
	}
	s.ns = namespaceName(tandem.SandboxSpec{Name: spec.Name, DataDir: s.data})
	if err := os.MkdirAll(filepath.Join(s.data, "kube"), 0o700); err != nil {
		return nil, err
	}
	// An earlier tandem's namespace of this instance is kept, with the
	// pods Start finds made as it would make them; one being deleted is
	// waited for, since it takes no new objects.
	if err := s.awaitNotTerminating(ctx); err != nil {
		return nil, errorf("the namespace an earlier %s left: %w", spec.Name, err)
	}
	if _, err := cs.Core.Namespaces().Apply(ctx, s.namespace(), applyOptions); err != nil {
		return nil, errorf("namespace of %s: %w", spec.Name, err)
	}
	defer func() {
		if err != nil {
			s.Close()
		}
	}()
	if _, err := cs.Networking.NetworkPolicies(s.ns).Apply(ctx, s.isolation(), applyOptions); err != nil {
		return nil, errorf("network policy of %s: %w", spec.Name, err)
	}
	if err := s.watch(ctx); err != nil {
		return nil, err
	}
	if err := s.sweep(ctx); err != nil {
		return nil, errorf("remove what an earlier %s left: %w", spec.Name, err)
	}
	return s, nil
}

// sweep deletes what an earlier tandem left that this instance will not
// use: one-off pods (exec, and the database's own maintenance pods), and
// the pods, Services and Secrets of services the instance no longer has
// (not their data's claims: as Compose keeps volumes). The pods of its
// services wait for Start, which keeps or replaces each.
func (s *Sandbox) sweep(ctx context.Context) error {
	has := map[string]bool{}
	for _, name := range s.spec.Services {
		has[name] = true
	}
	gone := func(l map[string]string) bool { return !has[l[labelService]] }
	s.mu.Lock()
	var pods []string
	for name, pod := range s.pods {
		if pod.Labels[labelRole] != "service" || gone(pod.Labels) {
			pods = append(pods, name)
		}
	}
	s.mu.Unlock()
	for _, name := range pods {
		if err := s.deletePod(name, 0); err != nil {
			return err
		}
	}
	sel := metav1.ListOptions{LabelSelector: labelService}
	svcs, err := s.cs.Core.Services(s.ns).List(ctx, sel)
	if err != nil {
		return err
	}
	secs, err := s.cs.Core.Secrets(s.ns).List(ctx, sel)
	if err != nil {
		return err
	}
	var drop []func() error
	for _, o := range svcs.Items {
		if gone(o.Labels) {
			drop = append(drop, func() error { return s.cs.Core.Services(s.ns).Delete(ctx, o.Name, metav1.DeleteOptions{}) })
		}
	}
	for _, o := range secs.Items {
		if gone(o.Labels) {
			drop = append(drop, func() error { return s.cs.Core.Secrets(s.ns).Delete(ctx, o.Name, metav1.DeleteOptions{}) })
		}
	}
	for _, del := range drop {
		if err := del(); err != nil && !apierrors.IsNotFound(err) {
			return err
		}
	}
	return nil
}

// awaitNotTerminating waits until the instance's namespace is not being
// deleted.
func (s *Sandbox) awaitNotTerminating(ctx context.Context) error {
	for {
		ns, err := s.cs.Core.Namespaces().Get(ctx, s.ns, metav1.GetOptions{})
		if apierrors.IsNotFound(err) || err == nil && ns.DeletionTimestamp == nil {
			return nil
		} else if err != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// watch follows the namespace's pods until Close.
func (s *Sandbox) watch(ctx context.Context) error {
	pods := s.cs.Core.Pods(s.ns)
	lw := &cache.ListWatch{
		ListWithContextFunc: func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) { return pods.List(ctx, o) },
		WatchFuncWithContext: func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
			return pods.Watch(ctx, o)
		},
	}
	inf := cache.NewSharedIndexInformer(lw, &corev1.Pod{}, 0, cache.Indexers{})
	seen := func(obj any) {
		if p, ok := obj.(*corev1.Pod); ok {
			s.seen(p, false)
		}
	}
	inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    seen,
		UpdateFunc: func(_, obj any) { seen(obj) },
		DeleteFunc: func(obj any) {
			if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
				obj = d.Obj
			}
			if p, ok := obj.(*corev1.Pod); ok {
				s.seen(p, true)
			}
		},
	})
	go inf.Run(s.stop)
	if !cache.WaitForCacheSync(ctx.Done(), inf.HasSynced) {
		return errorf("watch the pods of %s: %v", s.spec.Name, ctx.Err())
	}
	return nil
}

// seen records a pod's latest state and wakes whoever waits on pods.
func (s *Sandbox) seen(p *corev1.Pod, gone bool) {
	s.mu.Lock()
	if gone {
		delete(s.pods, p.Name)
	} else {
		s.pods[p.Name] = p
	}
	close(s.watched)
	s.watched = make(chan struct{})
	s.mu.Unlock()
}

// podState returns what the informer last saw of pod name (nil: none, or
// deleted) and a channel closed at the next change.
func (s *Sandbox) podState(name string) (*corev1.Pod, <-chan struct{}) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.pods[name], s.watched
}

// removeNamespace deletes the instance's namespace and waits until it is
// gone.
func (s *Sandbox) removeNamespace(ctx context.Context) error {
	err := s.cs.Core.Namespaces().Delete(ctx, s.ns, metav1.DeleteOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	return s.awaitNotTerminating(ctx)
}

// DialContext connects to "service:port" at the address of the service's
// pod, which tandem reaches when it runs in the cluster or on its node; or,
// with Runtime.Dial DialPortForward, through the API server.
func (s *Sandbox) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	network, _, port, err := netns.Target(network, addr, s.spec.Name, netns.Knows(s.spec.Services))
	if err != nil {
		return nil, err
	}
	host, _, _ := net.SplitHostPort(addr)
	if s.rt.Dial == DialPortForward {
		if p := s.procs.Get(host); p != nil {
			return s.dialForward(ctx, p.pod(), port)
		}
	} else if ip := s.podIP(host); ip != "" {
		return s.dialer.DialContext(ctx, network, net.JoinHostPort(ip, port))
	}
	// Nothing runs as that service: as a port nothing listens on.
	return nil, &net.OpError{Op: "dial", Net: network, Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}
}

// podIP is the address of service's running pod, "" if none runs.
func (s *Sandbox) podIP(service string) string {
	p := s.procs.Get(service)
	if p == nil {
		return ""
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if pod := s.pods[p.pod()]; pod != nil && pod.Status.Phase == corev1.PodRunning {
		return pod.Status.PodIP
	}
	return ""
}

// Close stops every pod of the instance and removes its namespace; with
// claims (whose data lives in the namespace, not in the data directory) it
// removes the pods only, and the namespace goes with the data directory
// (Runtime.RemoveData when tandem removes it, else Runtime.sweepGone).
func (s *Sandbox) Close() error {
	procs, first := s.procs.Close()
	if !first {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	for _, p := range procs {
		p.Stop(ctx, 0)
	}
	s.closeTunnels()
	var err error
	if s.rt.claims() {
		err = s.cs.Core.Pods(s.ns).DeleteCollection(ctx, metav1.DeleteOptions{}, metav1.ListOptions{})
	} else {
		err = s.removeNamespace(ctx)
	}
	close(s.stop)
	return err
}

func (s *Sandbox) track(service string, p *proc) error { return s.procs.Track(s.spec.Name, service, p) }
func (s *Sandbox) untrack(service string, p *proc)     { s.procs.Untrack(service, p) }
func (s *Sandbox) running(service string) *proc        { return s.procs.Get(service) }
func (s *Sandbox) isClosed() bool                      { return s.procs.Closed() }

// pgDataHost is where a postgres service's data lives on the node.
func (s *Sandbox) pgDataHost(svc *tandem.Service) string {
	return filepath.Join(s.data, "kube", "pgdata", svc.Name)
}

// restore gives a postgres service whose data is not initialised yet a copy
// of the snapshot SandboxSpec.Restore names for it.
func (s *Sandbox) restore(ctx context.Context, svc *tandem.Service) (bool, error) {
	id := s.spec.Restore[svc.Name]
	switch {
	case !isPostgres(svc):
		return false, nil
	case s.rt.claims():
		return s.restoreClaim(ctx, svc, id)
	case id == "":
		return false, nil
	}
	return s.rt.snapshots().RestorePostgres(id, s.pgDataHost(svc))
}

// Snapshot copies the data of a postgres service that is not running.
func (s *Sandbox) Snapshot(ctx context.Context, svc *tandem.Service) (string, error) {
	if !isPostgres(svc) {
		return "", tandem.Errorf(tandem.EUNSUPPORTED, "service %s: only postgres images can be snapshotted", svc.Name)
	}
	if s.running(svc.Name) != nil {
		return "", tandem.Errorf(tandem.ECONFLICT, "service %s: its server is running: stop it before taking a snapshot", svc.Name)
	}
	if s.rt.claims() {
		return s.snapshotClaim(ctx, svc)
	}
	return s.rt.snapshots().TakePostgres(svc.Name, s.pgDataHost(svc))
}

// exitError is how a terminated container ended.
func exitError(t *corev1.ContainerStateTerminated) error {
	if t == nil || t.ExitCode == 0 {
		return nil
	}
	e := &tandem.ExitError{Code: int(t.ExitCode)}
	if t.Signal != 0 {
		e.Code = 128 + int(t.Signal)
	}
	if e.Code == 137 {
		e.Signal = "SIGKILL"
	}
	return e
}
