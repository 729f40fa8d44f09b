package docker

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/mount"
	"github.com/moby/moby/client"

	"github.com/tandem-dev/tandem"
)

// containerConfig is how svc runs as a container of the instance: its
// image's entrypoint and command unless Compose names others, its
// environment and user, in the holder's network namespace, with its
// volumes kept in the data directory.
func (s *Sandbox) containerConfig(ctx context.Context, svc *tandem.Service, image string) (*container.Config, *container.HostConfig, error) {
	img, err := s.cli.ImageInspect(ctx, image)
	if err != nil {
		return nil, nil, fmt.Errorf("docker: image %s: %w", image, err)
	}
	cfg := &container.Config{
		Image:      image,
		Entrypoint: svc.Entrypoint,
		Cmd:        svc.Command,
		Env:        svc.Env(),
		User:       svc.User,
		WorkingDir: svc.ImageWorkingDir,
		Labels:     s.labels(svc.Name),
		StopSignal: svc.StopSignal,
		// The supervisor runs the healthcheck, Compose's or the image's
		// (tandem.UseImageHealthchecks); the engine's would only add load.
		Healthcheck: &container.HealthConfig{Test: []string{"NONE"}},
	}
	host := &container.HostConfig{
		NetworkMode: container.NetworkMode("container:" + s.holder),
		Resources:   resources(svc.Limits),
	}
	host.Mounts = append(host.Mounts, mount.Mount{Type: mount.TypeBind, Source: s.hostsPath(), Target: "/etc/hosts", ReadOnly: true})
	vols, err := s.volumes(svc, img)
	if err != nil {
		return nil, nil, err
	}
	host.Mounts = append(host.Mounts, vols...)
	return cfg, host, nil
}

// volumes are svc's Compose volumes, then a directory of the instance's
// for every VOLUME of the image that Compose does not cover (and for a
// postgres image's PGDATA, declared or not): the service's data lives in
// the data directory, not in a container that is removed once it ends.
func (s *Sandbox) volumes(svc *tandem.Service, img client.ImageInspectResult) ([]mount.Mount, error) {
	ms, err := s.mounts(svc)
	if err != nil {
		return nil, err
	}
	var declared []string
	if img.Config != nil {
		for v := range img.Config.Volumes {
			declared = append(declared, v)
		}
	}
	sort.Strings(declared)
	if isPostgres(svc) {
		declared = append(declared, pgdata(svc, img))
	}
	for _, target := range declared {
		if _, ok := hostPath(ms, target); ok {
			continue
		}
		dir := s.imageVolume(svc.Name, target)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, err
		}
		ms = append(ms, mount.Mount{Type: mount.TypeBind, Source: dir, Target: path.Clean(target)})
	}
	return ms, nil
}

// hostPath is where target, a path in the container, is on the host: in
// the mount that covers it, the innermost one.
func hostPath(ms []mount.Mount, target string) (string, bool) {
	target = path.Clean(target)
	best := -1
	for i, m := range ms {
		t := path.Clean(m.Target)
		if (target == t || strings.HasPrefix(target, t+"/")) && (best < 0 || len(t) > len(path.Clean(ms[best].Target))) {
			best = i
		}
	}
	if best < 0 {
		return "", false
	}
	rel := strings.TrimPrefix(strings.TrimPrefix(target, path.Clean(ms[best].Target)), "/")
	return filepath.Join(ms[best].Source, filepath.FromSlash(rel)), true
}

// resources maps Compose's limits to the container's.
func resources(l tandem.Limits) container.Resources {
	r := container.Resources{Memory: l.Memory, NanoCPUs: int64(l.CPUs * 1e9)}
	if l.Pids > 0 {
		pids := l.Pids
		r.PidsLimit = &pids
	}
	return r
}

// mounts are svc's Compose volumes: binds of the work tree, and named
// volumes as directories of the instance's data directory.
func (s *Sandbox) mounts(svc *tandem.Service) ([]mount.Mount, error) {
	var out []mount.Mount
	for _, m := range svc.Mounts {
		target := path.Clean(m.Target)
		if !path.IsAbs(target) || target == "/" {
			return nil, tandem.Errorf(tandem.EINVALID, "service %s: volume target %q is not an absolute path in the container", svc.Name, m.Target)
		}
		switch m.Type {
		case "bind":
			src, err := s.inTree(svc.Name, m.Source)
			if err != nil {
				return nil, err
			}
			out = append(out, mount.Mount{Type: mount.TypeBind, Source: src, Target: target, ReadOnly: m.ReadOnly})
		case "volume":
			if m.Source == "" || m.Source == "." || m.Source == ".." || filepath.Base(m.Source) != m.Source {
				return nil, tandem.Errorf(tandem.EINVALID, "service %s: volume name %q", svc.Name, m.Source)
			}
			dir := filepath.Join(s.data, "volumes", m.Source)
			if err := os.MkdirAll(dir, 0o755); err != nil {
				return nil, err
			}
			out = append(out, mount.Mount{Type: mount.TypeBind, Source: dir, Target: target, ReadOnly: m.ReadOnly})
		}
	}
	return out, nil
}

// inTree resolves src, which must lie in the instance's work tree: a
// preview's containers see its checkout, nothing else of the host.
func (s *Sandbox) inTree(service, src string) (string, error) {
	real, err := filepath.EvalSymlinks(src)
	if err != nil {
		return "", tandem.Errorf(tandem.EINVALID, "service %s: %w", service, err)
	}
	if s.tree == "" {
		return "", tandem.Errorf(tandem.EINVALID, "service %s: %s is a host directory, and instance %s has no work tree to mount it from", service, src, s.spec.Name)
	}
	rel, err := filepath.Rel(s.tree, real)
	if err != nil || rel == ".." || strings.HasPrefix(rel, "../") {
		return "", tandem.Errorf(tandem.EINVALID, "service %s: %s is outside the work tree %s: a container sees only the work tree", service, src, s.tree)
	}
	return real, nil
}

// imageVolume is where a path the image declares as VOLUME keeps its data.
func (s *Sandbox) imageVolume(service, target string) string {
	h := sha256.Sum256([]byte(target))
	name := nameSafe(strings.ReplaceAll(strings.Trim(target, "/"), "/", "_")) + "-" + hex.EncodeToString(h[:4])
	return filepath.Join(s.data, "docker", "volumes", nameSafe(service), name)
}

// ensureImage makes sure the engine has image, pulling it if it does not.
func (r *Runtime) ensureImage(ctx context.Context, image string, out io.Writer) error {
	cli, err := r.client()
	if err != nil {
		return err
	}
	if _, err := cli.ImageInspect(ctx, image); err == nil {
		return nil
	}
	fmt.Fprintf(out, "tandem: pulling %s\n", image)
	rc, err := cli.ImagePull(ctx, image, client.ImagePullOptions{})
	if err == nil {
		err = rc.Wait(ctx)
		rc.Close()
	}
	if err != nil {
		return tandem.Errorf(tandem.ENOTFOUND, "image %s is not on this engine and could not be pulled: %v (build it, or docker pull it first)", image, err)
	}
	return nil
}
