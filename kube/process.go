package kube

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/tandem-dev/tandem"
)

// proc is a service's pod. A pod the cluster deletes or evicts (a node
// drained, a pod preempted, kubectl delete pod) is replaced by a new one
// made the same way, as a Deployment would; the service's own exits are
// the supervisor's, under Compose's restart policy.
type proc struct {
	s       *Sandbox
	service string
	svc     *tandem.Service
	made    map[string]string // the pod's annotations
	stdout  io.Writer
	done    chan struct{} // closed once the pod has ended and is removed
	err     error         // Wait's, once done

	mu       sync.Mutex
	name     string // the pod's
	stopping bool   // Stop was called: a deleted pod is not replaced
}

var _ tandem.ProbedProcess = (*proc)(nil)

func newProc(s *Sandbox, name string, svc *tandem.Service, made map[string]string, stdout io.Writer) *proc {
	return &proc{s: s, name: name, service: svc.Name, svc: svc, made: made, stdout: stdout, done: make(chan struct{})}
}

// pod is the name of the service's pod now.
func (p *proc) pod() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.name
}

func (p *proc) ID() string { return p.s.ns + "/" + p.pod() }

// Probed is the verdict of the pod's readiness probe, the service's
// healthcheck (probes in manifest.go): its container is ready.
func (p *proc) Probed() (bool, <-chan struct{}) {
	pod, changed := p.s.podState(p.pod())
	if pod == nil || pod.DeletionTimestamp != nil {
		return false, changed
	}
	for _, c := range pod.Status.ContainerStatuses {
		if c.Name == "main" {
			return c.Ready, changed
		}
	}
	return false, changed
}

// ProbeFailure is what the kubelet last reported of the pod's failing
// probes: it keeps the command's output in an event, not in the pod.
func (p *proc) ProbeFailure(ctx context.Context) string {
	events, err := p.s.cs.Core.Events(p.s.ns).List(ctx, metav1.ListOptions{
		FieldSelector: "involvedObject.kind=Pod,involvedObject.name=" + p.pod() + ",reason=Unhealthy",
	})
	if err != nil {
		return fmt.Sprintf("its healthcheck fails (the kubelet's report of it: %v)", err)
	}
	var last *corev1.Event
	for i := range events.Items {
		if e := &events.Items[i]; last == nil || eventTime(e).After(eventTime(last)) {
			last = e
		}
	}
	if last == nil {
		return "its healthcheck has not passed"
	}
	return strings.TrimSpace(last.Message)
}

// eventTime is when an event last happened.
func eventTime(e *corev1.Event) time.Time {
	if !e.EventTime.IsZero() {
		return e.EventTime.Time
	}
	if !e.LastTimestamp.IsZero() {
		return e.LastTimestamp.Time
	}
	return e.CreationTimestamp.Time
}

// Start applies svc's environment Secret and Service, then its pod, and
// returns once its container runs (or has already ended). An image the
// node cannot have, or a container that cannot be made, fails Start with
// the reason Kubernetes gives. A pod an earlier tandem left running, made
// as this one would make it (same spec, same environment), is kept: a
// restarted tandem serve does not restart what did not change. Any other
// pod of svc is stopped first.
func (s *Sandbox) Start(ctx context.Context, svc *tandem.Service, stdout, stderr io.Writer) (tandem.Process, error) {
	if err := s.rt.Check(svc); err != nil {
		return nil, err
	}
	if s.isClosed() {
		return nil, tandem.Errorf(tandem.ECONFLICT, "instance %s is shut down", s.spec.Name)
	}
	env, err := s.applyService(ctx, svc)
	if err != nil {
		return nil, err
	}
	made := map[string]string{annotationSpec: s.digest(svc), annotationEnv: env}
	kept, stale := s.earlier(svc, made)
	if kept != nil {
		return s.keep(svc, kept, made, stdout, stderr)
	}
	for _, name := range stale {
		if err := s.deletePod(name, svc.StopGrace); err != nil {
			return nil, errorf("service %s: stop its earlier pod %s: %w", svc.Name, name, err)
		}
	}
	for _, name := range stale {
		if err := s.awaitGone(ctx, name); err != nil {
			return nil, errorf("service %s: its earlier pod %s did not stop: %w", svc.Name, name, err)
		}
	}
	restored, err := s.restore(ctx, svc)
	if err != nil {
		return nil, err
	}
	if restored {
		fmt.Fprintf(stdout, "tandem: %s starts from snapshot %s\n", svc.Name, s.spec.Restore[svc.Name])
	}
	p := newProc(s, svc.Name+"-"+suffix(), svc, made, stdout)
	if err := s.track(svc.Name, p); err != nil {
		return nil, err
	}
	if _, err := s.cs.Core.Pods(s.ns).Apply(ctx, s.pod(p.name, svc, "service", nil).WithAnnotations(made), applyOptions); err != nil {
		s.untrack(svc.Name, p)
		return nil, errorf("service %s: %w", svc.Name, err)
	}
	if err := s.awaitStart(ctx, p.name, svc); err != nil {
		s.untrack(svc.Name, p)
		s.deletePod(p.name, 0)
		return nil, err
	}
	logs := s.follow(p.name, stdout, time.Time{})
	go p.reap(logs, stderr)
	return p, nil
}

// earlier sorts the pods of svc that this tandem did not start (an earlier
// one left them): the first running pod annotated as made is kept; the
// others are stale.
func (s *Sandbox) earlier(svc *tandem.Service, made map[string]string) (kept *corev1.Pod, stale []string) {
	if s.running(svc.Name) != nil {
		return nil, nil // this tandem's own: Start refuses it as it should
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for name, pod := range s.pods {
		if pod.Labels[labelService] != svc.Name || pod.Labels[labelRole] != "service" {
			continue
		}
		if kept == nil && pod.DeletionTimestamp == nil && pod.Status.Phase == corev1.PodRunning &&
			pod.Annotations[annotationSpec] == made[annotationSpec] && pod.Annotations[annotationEnv] == made[annotationEnv] {
			kept = pod
			continue
		}
		stale = append(stale, name)
	}
	return kept, stale
}

// keep takes over pod, which an earlier tandem started as this one would:
// its output from now on, and its end, are this tandem's.
func (s *Sandbox) keep(svc *tandem.Service, pod *corev1.Pod, made map[string]string, stdout, stderr io.Writer) (tandem.Process, error) {
	p := newProc(s, pod.Name, svc, made, stdout)
	if err := s.track(svc.Name, p); err != nil {
		return nil, err
	}
	since := time.Now()
	fmt.Fprintf(stdout, "tandem: %s runs on in pod %s, started %s\n", svc.Name, pod.Name, pod.CreationTimestamp.UTC().Format(time.RFC3339))
	logs := s.follow(p.name, stdout, since)
	go p.reap(logs, stderr)
	return p, nil
}

var applyOptions = metav1.ApplyOptions{FieldManager: fieldManager, Force: true}

// applyService applies what every pod of svc reads: its environment's
// Secret, and the Service that gives it its name.
// It returns the Secret's resourceVersion, which changes only with the
// values.
func (s *Sandbox) applyService(ctx context.Context, svc *tandem.Service) (string, error) {
	sec, err := s.cs.Core.Secrets(s.ns).Apply(ctx, s.environment(svc), applyOptions)
	if err != nil {
		return "", errorf("service %s: its environment: %w", svc.Name, err)
	}
	if _, err := s.cs.Core.Services(s.ns).Apply(ctx, s.service(svc), applyOptions); err != nil {
		return "", errorf("service %s: %w", svc.Name, err)
	}
	return sec.ResourceVersion, nil
}

// suffix tells apart the pods one service has had.
func suffix() string {
	b := make([]byte, 3)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// cannotStart are the reasons a container waits for something that will
// not come by itself.
var cannotStart = map[string]bool{
	"ErrImageNeverPull": true, "ErrImagePull": true, "ImagePullBackOff": true, "InvalidImageName": true,
	"CreateContainerConfigError": true, "CreateContainerError": true, "RunContainerError": true,
}

// awaitStart waits until pod name's container runs or has ended.
func (s *Sandbox) awaitStart(ctx context.Context, name string, svc *tandem.Service) error {
	for {
		pod, changed := s.podState(name)
		if pod != nil {
			if pod.Status.Phase == corev1.PodFailed && len(pod.Status.ContainerStatuses) == 0 {
				return errorf("service %s: pod %s failed: %s %s", svc.Name, name, pod.Status.Reason, pod.Status.Message)
			}
			for _, c := range pod.Status.ContainerStatuses {
				switch {
				case c.State.Running != nil, c.State.Terminated != nil:
					return nil
				case c.State.Waiting != nil && cannotStart[c.State.Waiting.Reason]:
					return tandem.Errorf(tandem.ENOTFOUND, "service %s: image %s: %s: %s", svc.Name, svc.Image, c.State.Waiting.Reason, c.State.Waiting.Message)
				}
			}
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return errorf("service %s: its pod did not start: %w", svc.Name, ctx.Err())
		}
	}
}

// follow copies pod name's output (from since, when not zero) to w until
// its container ends; the channel is closed then.
func (s *Sandbox) follow(name string, w io.Writer, since time.Time) <-chan struct{} {
	done := make(chan struct{})
	opts := &corev1.PodLogOptions{Container: "main", Follow: true}
	if !since.IsZero() {
		opts.SinceTime = &metav1.Time{Time: since}
	}
	go func() {
		defer close(done)
		req := s.cs.Core.Pods(s.ns).GetLogs(name, opts)
		r, err := req.Stream(context.Background())
		if err != nil {
			return
		}
		defer r.Close()
		io.Copy(w, r)
	}()
	return done
}

// ended returns how pod's container ended, and whether it has.
func ended(pod *corev1.Pod) (*corev1.ContainerStateTerminated, bool) {
	for _, c := range pod.Status.ContainerStatuses {
		if c.State.Terminated != nil {
			return c.State.Terminated, true
		}
	}
	return nil, pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed
}

// awaitEnd waits until pod name's container has ended and returns how
// (nil when the pod ended without a container state); gone when the pod was
// deleted first.
func (s *Sandbox) awaitEnd(ctx context.Context, name string) (t *corev1.ContainerStateTerminated, gone bool, err error) {
	pod, err := s.awaitPod(ctx, name, func(pod *corev1.Pod) bool { _, ok := ended(pod); return ok })
	if err != nil || pod == nil {
		return nil, pod == nil && err == nil, err
	}
	t, _ = ended(pod)
	return t, false, nil
}

// awaitGone waits until pod name is deleted.
func (s *Sandbox) awaitGone(ctx context.Context, name string) error {
	_, err := s.awaitPod(ctx, name, func(*corev1.Pod) bool { return false })
	return err
}

// awaitPod waits until pod name is as done wants, and returns it; or until
// it is deleted, and returns nil.
func (s *Sandbox) awaitPod(ctx context.Context, name string, done func(*corev1.Pod) bool) (*corev1.Pod, error) {
	for {
		pod, changed := s.podState(name)
		if pod == nil {
			if _, err := s.cs.Core.Pods(s.ns).Get(ctx, name, metav1.GetOptions{}); apierrors.IsNotFound(err) {
				return nil, nil
			}
		} else if done(pod) {
			return pod, nil
		}
		select {
		case <-changed:
		case <-time.After(5 * time.Second):
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// couldNotRun reports a container the runtime could not start at all (its
// program missing): its message says why.
func couldNotRun(t *corev1.ContainerStateTerminated) bool {
	return t != nil && t.ExitCode != 0 && (t.Reason == "StartError" || t.Reason == "ContainerCannotRun")
}

// drain waits, a while at most, for a pod's output to have been copied.
func drain(logs <-chan struct{}) {
	select {
	case <-logs:
	case <-time.After(5 * time.Second):
	}
}

// reap waits for the pod to end (or be deleted), records how, and removes
// it: an ended pod has nothing more to give. A pod the cluster took away
// is replaced first, unless Stop or Close asked for its end.
func (p *proc) reap(logs <-chan struct{}, stderr io.Writer) {
	s := p.s
	for {
		name := p.pod()
		pod, _ := s.awaitPod(context.Background(), name, func(pod *corev1.Pod) bool { _, ok := ended(pod); return ok })
		why := disrupted(pod)
		p.mu.Lock()
		stopping := p.stopping
		p.mu.Unlock()
		if why != "" && !stopping && !s.isClosed() {
			drain(logs)
			s.forget(name, nil)
			s.deletePod(name, 0)
			switch next, err := p.replace(); {
			case err != nil:
				fmt.Fprintf(stderr, "tandem: %s: its pod %s was %s, and a new one did not start: %v\n", p.service, name, why, err)
			case next != "":
				fmt.Fprintf(stderr, "tandem: %s: its pod %s was %s; it runs again in pod %s\n", p.service, name, why, next)
				logs = s.follow(next, p.stdout, time.Time{})
				continue
			}
		}
		var t *corev1.ContainerStateTerminated
		if pod != nil {
			t, _ = ended(pod)
		}
		switch {
		case pod == nil:
			p.err = &tandem.ExitError{Code: 137, Signal: "SIGKILL"}
		case couldNotRun(t):
			p.err = exitError(t)
			fmt.Fprintf(stderr, "tandem: %s could not start: %s\n", p.service, t.Message)
		default:
			p.err = exitError(t)
		}
		drain(logs)
		s.forget(name, nil)
		s.deletePod(name, 0)
		s.untrack(p.service, p)
		close(p.done)
		return
	}
}

// disrupted says why the cluster took pod away (nil: it was deleted
// before its end was seen), "" when its container ended by itself.
func disrupted(pod *corev1.Pod) string {
	switch {
	case pod == nil:
		return "deleted"
	case pod.Status.Reason == "Evicted":
		return "evicted by its node (" + pod.Status.Message + ")"
	}
	for _, c := range pod.Status.Conditions {
		if c.Type == corev1.DisruptionTarget && c.Status == corev1.ConditionTrue {
			return "taken away by the cluster (" + c.Reason + ")"
		}
	}
	if pod.DeletionTimestamp != nil {
		return "deleted"
	}
	return ""
}

// replace starts a new pod for the service, made as the one it replaces
// was, and returns its name once its container runs; "" when Stop came
// first.
func (p *proc) replace() (string, error) {
	s := p.s
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	name := p.service + "-" + suffix()
	stopping := func(next string) bool {
		p.mu.Lock()
		defer p.mu.Unlock()
		if !p.stopping && next != "" {
			p.name = next // what Stop deletes from now on
		}
		return p.stopping
	}
	if stopping(name) {
		return "", nil
	}
	if _, err := s.cs.Core.Pods(s.ns).Apply(ctx, s.pod(name, p.svc, "service", nil).WithAnnotations(p.made), applyOptions); err != nil {
		return "", err
	}
	if stopping("") { // Stop may have deleted it before it was made
		s.deletePod(name, 0)
		return "", nil
	}
	if err := s.awaitStart(ctx, name, p.svc); err != nil {
		s.deletePod(name, 0)
		return "", err
	}
	return name, nil
}

// deletePod deletes pod name, giving it grace to stop.
func (s *Sandbox) deletePod(name string, grace time.Duration) error {
	secs := int64(0)
	if grace > 0 {
		secs = max(1, int64((grace+time.Second-1)/time.Second))
	}
	err := s.cs.Core.Pods(s.ns).Delete(context.Background(), name, metav1.DeleteOptions{GracePeriodSeconds: &secs})
	if apierrors.IsNotFound(err) {
		return nil
	}
	return err
}

// Stop deletes the pod with grace: the kubelet sends the stop signal, and
// kills the container once grace has passed.
func (p *proc) Stop(ctx context.Context, grace time.Duration) error {
	select {
	case <-p.done:
		return p.err
	default:
	}
	p.mu.Lock()
	p.stopping = true
	name := p.name
	p.mu.Unlock()
	if err := p.s.deletePod(name, grace); err != nil {
		return errorf("stop %s: %w", p.service, err)
	}
	select {
	case <-p.done:
		return p.err
	case <-ctx.Done():
		p.s.deletePod(p.pod(), 0)
		<-p.done
		return p.err
	}
}

// Wait returns once the pod has ended and is removed.
func (p *proc) Wait() error {
	<-p.done
	return p.err
}
