package docker

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/mount"
	"github.com/moby/moby/api/types/network"
	"github.com/moby/moby/client"

	"github.com/tandem-dev/tandem"
	"github.com/tandem-dev/tandem/internal/netns"
	"github.com/tandem-dev/tandem/internal/running"
)

// Sandbox is one stack instance: the holder container whose network
// namespace every service container joins, the hosts file they share, and
// the containers running in it.
//
// An instance's data directory holds, besides what a process-runtime
// instance keeps there:
//
//	docker/hosts             the instance's /etc/hosts
//	docker/volumes/SVC/PATH  what the image declares as VOLUME, per service
//	volumes/NAME/            Compose named volumes (as under the process runtime)
//
// so the instance's data is in its data directory, and only there: the
// runtime makes no engine volume, and removing the directory removes it.
type Sandbox struct {
	rt     *Runtime
	cli    *client.Client
	spec   tandem.SandboxSpec
	data   string                 // spec.DataDir, absolute
	tree   string                 // spec.WorkTree, absolute, symlinks resolved; "" if none
	holder string                 // the holder container's id
	ns     *os.File               // its network namespace, when tandem can enter it
	ports  map[int]netip.AddrPort // published ports, when it cannot
	dialer net.Dialer

	procs running.Set[*proc] // running service containers, by service
}

var _ tandem.Sandbox = (*Sandbox)(nil)

func newSandbox(ctx context.Context, r *Runtime, spec tandem.SandboxSpec) (_ *Sandbox, err error) {
	cli, err := r.client()
	if err != nil {
		return nil, err
	}
	s := &Sandbox{rt: r, cli: cli, spec: spec}
	if s.data, err = filepath.Abs(spec.DataDir); err != nil {
		return nil, err
	}
	if spec.WorkTree != "" {
		if s.tree, err = filepath.Abs(spec.WorkTree); err == nil {
			s.tree, err = filepath.EvalSymlinks(s.tree)
		}
		if err != nil {
			return nil, tandem.Errorf(tandem.EINVALID, "instance %s: work tree: %w", spec.Name, err)
		}
	}
	if err := os.MkdirAll(filepath.Join(s.data, "docker"), 0o700); err != nil {
		return nil, err
	}
	if err := os.WriteFile(s.hostsPath(), hostsFile(spec.Services), 0o644); err != nil {
		return nil, err
	}
	if err := r.removeInstance(ctx, spec.Name, s.data); err != nil {
		return nil, fmt.Errorf("docker: remove what an earlier %s left: %w", spec.Name, err)
	}
	defer func() {
		if err != nil {
			s.Close()
		}
	}()
	if err := s.startHolder(ctx); err != nil {
		return nil, err
	}
	return s, nil
}

func (s *Sandbox) hostsPath() string { return filepath.Join(s.data, "docker", "hosts") }

// hostsFile maps every service name to loopback: one namespace per
// instance means every service is at 127.0.0.1, on the port it binds.
func hostsFile(services []string) []byte {
	var b strings.Builder
	b.WriteString("# written by tandem: the services of this stack instance\n")
	b.WriteString("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n")
	for _, svc := range services {
		fmt.Fprintf(&b, "127.0.0.1\t%s\n", svc)
	}
	return []byte(b.String())
}

// labels mark a container as the instance's, and as this tandem's.
func (s *Sandbox) labels(service string) map[string]string {
	l := map[string]string{labelInstance: s.spec.Name, labelData: s.data, labelOwner: owner()}
	if service != "" {
		l[labelService] = service
	}
	return l
}

// startHolder starts the container that holds the instance's network
// namespace: no network but loopback where tandem can enter it; else the
// default bridge, with the gateway's ports published on 127.0.0.1 only.
func (s *Sandbox) startHolder(ctx context.Context) error {
	image, err := s.rt.ensureHolder(ctx)
	if err != nil {
		return err
	}
	enter := s.rt.canEnter()
	cfg := &container.Config{Image: image, Labels: s.labels(""), Hostname: nameSafe(s.spec.Name)}
	if s.rt.HolderImage != "" {
		cfg.Entrypoint, cfg.Cmd = []string{"sleep"}, []string{"2147483647"}
	}
	host := &container.HostConfig{
		NetworkMode: "none",
		Mounts:      []mount.Mount{{Type: mount.TypeBind, Source: s.hostsPath(), Target: "/etc/hosts", ReadOnly: true}},
	}
	if !enter {
		host.NetworkMode = "bridge"
		host.PortBindings = network.PortMap{}
		cfg.ExposedPorts = network.PortSet{}
		for _, p := range s.spec.Ports {
			port := network.MustParsePort(strconv.Itoa(p) + "/tcp")
			cfg.ExposedPorts[port] = struct{}{}
			host.PortBindings[port] = []network.PortBinding{{HostIP: netip.MustParseAddr("127.0.0.1")}}
		}
	}
	created, err := s.cli.ContainerCreate(ctx, client.ContainerCreateOptions{Name: containerName(s.spec, "holder"), Config: cfg, HostConfig: host})
	if err != nil {
		return fmt.Errorf("docker: create the holder of %s: %w", s.spec.Name, err)
	}
	s.holder = created.ID
	if _, err := s.cli.ContainerStart(ctx, s.holder, client.ContainerStartOptions{}); err != nil {
		return fmt.Errorf("docker: start the holder of %s: %w", s.spec.Name, err)
	}
	in, err := s.cli.ContainerInspect(ctx, s.holder, client.ContainerInspectOptions{})
	if err != nil {
		return err
	}
	if enter {
		if s.ns, err = netns.OfPid(in.Container.State.Pid); err != nil {
			return err
		}
		return nil
	}
	s.ports = map[int]netip.AddrPort{}
	for port, bindings := range in.Container.NetworkSettings.Ports {
		for _, b := range bindings {
			hp, _ := strconv.Atoi(b.HostPort)
			if b.HostIP.Is4() && hp > 0 {
				s.ports[int(port.Num())] = netip.AddrPortFrom(b.HostIP, uint16(hp))
			}
		}
	}
	return nil
}

// canEnter reports, once, whether tandem can dial into the engine's
// network namespaces: a local engine on Linux, and the privilege.
func (r *Runtime) canEnter() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.dialIn == nil {
		ok := netns.Usable() == nil && localEngine(r)
		r.dialIn = &ok
	}
	return *r.dialIn
}

// localEngine reports whether the engine's processes are this machine's:
// its socket is a local one and /proc shows namespaces (not a VM's).
func localEngine(r *Runtime) bool {
	cli, err := r.client()
	if err != nil {
		return false
	}
	host := cli.DaemonHost()
	if !strings.HasPrefix(host, "unix://") {
		return false
	}
	_, err = os.Stat("/proc/self/ns/net")
	return err == nil && os.Getenv("TANDEM_DOCKER_PUBLISH") == ""
}

// DialContext connects to "service:port" inside the instance: through its
// namespace, or through the port the holder published.
func (s *Sandbox) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	network, target, port, err := netns.Target(network, addr, s.spec.Name, netns.Knows(s.spec.Services, "localhost", "127.0.0.1"))
	if err != nil {
		return nil, err
	}
	if s.ns != nil {
		return netns.DialIn(ctx, s.ns, &s.dialer, network, target)
	}
	n, _ := strconv.Atoi(port)
	ap, ok := s.ports[n]
	if !ok {
		return nil, tandem.Errorf(tandem.EUNAVAILABLE, "dial %q: port %s of %s is not published (tandem cannot enter Docker's network namespaces here, and reaches only the ports routes name)", addr, port, s.spec.Name)
	}
	return s.dialer.DialContext(ctx, network, ap.String())
}

// Close removes every container of the instance, the holder last.
func (s *Sandbox) Close() error {
	procs, first := s.procs.Close()
	if !first {
		return nil
	}
	ctx := context.Background()
	for _, p := range procs {
		p.Stop(ctx, 0)
	}
	err := s.rt.removeInstance(ctx, s.spec.Name, s.data)
	if s.ns != nil {
		s.ns.Close()
	}
	return err
}

func (s *Sandbox) track(service string, p *proc) error { return s.procs.Track(s.spec.Name, service, p) }
func (s *Sandbox) untrack(service string, p *proc)     { s.procs.Untrack(service, p) }

// running is service's container, nil when none runs. One that has ended
// is not running, even in the moment before its bookkeeping forgets it.
func (s *Sandbox) running(service string) *proc {
	p := s.procs.Get(service)
	if p != nil && p.ended() {
		return nil
	}
	return p
}

func (s *Sandbox) isClosed() bool { return s.procs.Closed() }

// Netns opens the instance's network namespace, for processes that run
// beside its containers (the mixed runtime). EUNSUPPORTED where tandem
// cannot enter the engine's namespaces.
func (s *Sandbox) Netns(ctx context.Context) (*os.File, error) {
	if s.ns == nil {
		return nil, tandem.Errorf(tandem.EUNSUPPORTED, "instance %s: tandem cannot enter the Docker Engine's network namespaces here, so processes cannot run beside its containers", s.spec.Name)
	}
	in, err := s.cli.ContainerInspect(ctx, s.holder, client.ContainerInspectOptions{})
	if err != nil {
		return nil, err
	}
	return netns.OfPid(in.Container.State.Pid)
}
