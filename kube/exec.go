package kube

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/httpstream"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/tools/remotecommand"
	utilexec "k8s.io/client-go/util/exec"

	"github.com/tandem-dev/tandem"
)

// Exec runs argv in svc's running pod, as kubectl exec does; when svc does
// not run, in a pod of its own made as svc's would be (its image,
// environment and data), as docker compose run does: seed commands run
// before their service starts.
func (s *Sandbox) Exec(ctx context.Context, svc *tandem.Service, argv []string, stdout, stderr io.Writer) error {
	if len(argv) == 0 {
		return tandem.Errorf(tandem.EINVALID, "service %s: exec of an empty command", svc.Name)
	}
	if s.isClosed() {
		return tandem.Errorf(tandem.ECONFLICT, "instance %s is shut down", s.spec.Name)
	}
	if p := s.running(svc.Name); p != nil {
		return s.execIn(ctx, p.pod(), argv, nil, stdout, stderr)
	}
	return s.execOnce(ctx, svc, argv, stdout, stderr)
}

// execIn is the pods/exec subresource, over WebSocket, or SPDY where the
// API server lacks it; stdin, when not nil, is the command's input.
func (s *Sandbox) execIn(ctx context.Context, pod string, argv []string, stdin io.Reader, stdout, stderr io.Writer) error {
	cfg := s.rt.config
	req := s.cs.Core.RESTClient().Post().Resource("pods").Namespace(s.ns).Name(pod).SubResource("exec").
		VersionedParams(&corev1.PodExecOptions{Container: "main", Command: argv, Stdin: stdin != nil, Stdout: true, Stderr: true}, scheme.ParameterCodec)
	ws, err := remotecommand.NewWebSocketExecutor(cfg, http.MethodGet, req.URL().String())
	if err != nil {
		return err
	}
	spdy, err := remotecommand.NewSPDYExecutor(cfg, http.MethodPost, req.URL())
	if err != nil {
		return err
	}
	ex, err := remotecommand.NewFallbackExecutor(ws, spdy, upgradeRefused)
	if err != nil {
		return err
	}
	// The executor copies stdout and stderr in goroutines of their own;
	// callers often pass one buffer for both (a healthcheck's output).
	var mu sync.Mutex
	stdout, stderr = &lockedWriter{mu: &mu, w: stdout}, &lockedWriter{mu: &mu, w: stderr}
	err = ex.StreamWithContext(ctx, remotecommand.StreamOptions{Stdin: stdin, Stdout: stdout, Stderr: stderr})
	if ctx.Err() != nil {
		return ctx.Err()
	}
	var code utilexec.CodeExitError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &code):
		return &tandem.ExitError{Code: code.Code}
	case strings.Contains(err.Error(), "executable file not found") || strings.Contains(err.Error(), "no such file or directory"):
		// The runtime could not find the program: a shell's 127.
		io.WriteString(stderr, err.Error()+"\n")
		return &tandem.ExitError{Code: 127}
	}
	return errorf("exec in %s: %w", pod, err)
}

// upgradeRefused says when to fall back from WebSocket to SPDY, for exec and
// port-forward alike: the API server (or a proxy before it) refused the
// upgrade.
func upgradeRefused(err error) bool {
	return httpstream.IsUpgradeFailure(err) || httpstream.IsHTTPSProxyError(err)
}

// execOnce runs argv in a pod of its own, removed once it ends.
func (s *Sandbox) execOnce(ctx context.Context, svc *tandem.Service, argv []string, stdout, stderr io.Writer) error {
	if err := s.rt.Check(svc); err != nil {
		return err
	}
	if _, err := s.applyService(ctx, svc); err != nil {
		return err
	}
	if _, err := s.restore(ctx, svc); err != nil {
		return err
	}
	name := svc.Name + "-exec-" + suffix()
	if _, err := s.cs.Core.Pods(s.ns).Apply(ctx, s.pod(name, svc, "exec", argv), applyOptions); err != nil {
		return errorf("service %s: %w", svc.Name, err)
	}
	defer s.deletePod(name, 0)
	if err := s.awaitStart(ctx, name, svc); err != nil {
		return err
	}
	logs := s.follow(name, stdout, time.Time{})
	t, gone, err := s.awaitEnd(ctx, name)
	switch {
	case err != nil:
		return err
	case gone:
		return errorf("service %s: its exec pod %s is gone", svc.Name, name)
	}
	drain(logs)
	if couldNotRun(t) {
		io.WriteString(stderr, t.Message+"\n")
		return &tandem.ExitError{Code: 127}
	}
	return exitError(t)
}

// lockedWriter serializes writes to w with the other writers sharing mu.
type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
