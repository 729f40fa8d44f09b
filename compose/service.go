package compose

import (
	"fmt"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/compose-spec/compose-go/v2/types"
	"github.com/tandem-dev/tandem"
)

// service converts a Compose service into tandem's. disabled names the
// services the active profiles leave out.
func (d *decoder) convert(s types.ServiceConfig, disabled map[string]bool) *tandem.Service {
	svc := &tandem.Service{
		Name:        s.Name,
		Image:       s.Image,
		Entrypoint:  nilOrSlice(s.Entrypoint),
		Command:     nilOrSlice(s.Command),
		Environment: map[string]string{},
		StopSignal:  "SIGTERM",
		StopGrace:   tandem.DefaultStopGrace,
	}
	if s.Build != nil {
		svc.Context = s.Build.Context
		svc.DockerBuild = &tandem.DockerBuild{Dockerfile: s.Build.Dockerfile, Inline: s.Build.DockerfileInline, Target: s.Build.Target}
		for k, v := range s.Build.Args {
			if v == nil {
				continue // a value-less arg nothing sets stays unset
			}
			if svc.DockerBuild.Args == nil {
				svc.DockerBuild.Args = map[string]string{}
			}
			svc.DockerBuild.Args[k] = *v
		}
	}
	svc.User = s.User
	if filepath.IsAbs(s.WorkingDir) {
		svc.ImageWorkingDir = s.WorkingDir
	}
	svc.WorkingDir = svc.Context
	// An absolute working_dir is a path inside a container, which means
	// nothing on this machine: the command runs in the build context.
	if wd := s.WorkingDir; wd != "" && !filepath.IsAbs(wd) && svc.Context != "" {
		svc.WorkingDir = filepath.Join(svc.Context, wd)
	}
	for k, v := range s.Environment {
		// A value-less KEY that nothing sets stays unset, as in Compose.
		if v != nil {
			svc.Environment[k] = *v
		}
	}
	svc.Ports = d.ports(s)
	svc.Publish = d.publish(s)
	svc.Limits = limits(s)
	for name, dep := range s.DependsOn {
		// compose-go keeps a dependency that is not required on a disabled
		// service; Compose then starts without it.
		if disabled[name] {
			continue
		}
		cond := tandem.Condition(dep.Condition)
		if cond == "" {
			cond = tandem.ServiceStarted
		}
		svc.DependsOn = append(svc.DependsOn, tandem.Dependency{
			Service: name, Condition: cond, Required: dep.Required, Restart: dep.Restart,
		})
	}
	slices.SortFunc(svc.DependsOn, func(a, b tandem.Dependency) int { return strings.Compare(a.Service, b.Service) })
	svc.Healthcheck = healthcheck(s.HealthCheck)
	svc.HealthcheckOff = s.HealthCheck != nil && (s.HealthCheck.Disable || len(s.HealthCheck.Test) > 0 && s.HealthCheck.Test[0] == "NONE")
	svc.Restart = d.restart(s)
	if isPostgres(s.Image) {
		// The image's STOPSIGNAL, which Compose uses when the file names
		// none: a fast shutdown that does not wait for clients to leave.
		svc.StopSignal = "SIGINT"
	}
	if s.StopSignal != "" {
		svc.StopSignal = s.StopSignal
	}
	if s.StopGracePeriod != nil {
		svc.StopGrace = time.Duration(*s.StopGracePeriod)
	}
	for _, v := range s.Volumes {
		if v.Type != types.VolumeTypeBind && v.Type != types.VolumeTypeVolume {
			continue // tmpfs, npipe, image: nothing to mount from here
		}
		svc.Mounts = append(svc.Mounts, tandem.Mount{Type: v.Type, Source: v.Source, Target: v.Target, ReadOnly: v.ReadOnly})
	}
	if x, ok := s.Extensions[Extension]; ok {
		d.service(x, svc)
	}
	d.fromDockerfile(s, svc)
	return svc
}

// nilOrSlice keeps the difference between an unset command (nil: the
// image's default) and an explicitly empty one.
func nilOrSlice(c types.ShellCommand) []string {
	if c == nil {
		return nil
	}
	return append([]string{}, c...)
}

// ports are the ports targets, expose entries and the well-known ports of
// the image, unique and sorted.
func (d *decoder) ports(s types.ServiceConfig) []int {
	set := map[int]bool{}
	for _, p := range s.Ports {
		if p.Target > 0 {
			set[int(p.Target)] = true
		}
	}
	for i, e := range s.Expose {
		lo, hi, err := portRange(e)
		if err != nil {
			d.fail(fmt.Sprintf("services.%s.expose.%d", s.Name, i), "expose %q: %v", e, err)
			continue
		}
		for p := lo; p <= hi; p++ {
			set[p] = true
		}
	}
	if isPostgres(s.Image) {
		set[5432] = true
	}
	var ports []int
	for p := range set {
		ports = append(ports, p)
	}
	slices.Sort(ports)
	return ports
}

// publish reads the ports entries that name a host port. One with no host
// port ("3000") publishes on a port Docker would choose at random, which
// nothing could find: tandem leaves it unpublished, as the gateway is how
// services are reached.
func (d *decoder) publish(s types.ServiceConfig) []tandem.PortBinding {
	var out []tandem.PortBinding
	for i, p := range s.Ports {
		if p.Published == "" || p.Target == 0 {
			continue
		}
		path := fmt.Sprintf("services.%s.ports.%d", s.Name, i)
		host, err := strconv.Atoi(p.Published)
		if err != nil || host < 1 || host > 65535 {
			d.fail(path, "service %q: ports: host port %q is not a port number", s.Name, p.Published)
			continue
		}
		proto := p.Protocol
		if proto == "" {
			proto = "tcp"
		}
		pos, _ := d.ps.in("", path)
		out = append(out, tandem.PortBinding{HostIP: p.HostIP, HostPort: host, Port: int(p.Target), Protocol: proto, Pos: pos})
	}
	return out
}

// limits reads what docker compose applies: deploy.resources.limits where
// set, else the service-level mem_limit, cpus and pids_limit.
func limits(s types.ServiceConfig) tandem.Limits {
	l := tandem.Limits{Memory: int64(s.MemLimit), CPUs: float64(s.CPUS), Pids: s.PidsLimit}
	if s.Deploy != nil {
		r := s.Deploy.Resources.Limits
		if r != nil && r.MemoryBytes > 0 {
			l.Memory = int64(r.MemoryBytes)
		}
		if r != nil && r.NanoCPUs > 0 {
			l.CPUs = float64(r.NanoCPUs)
		}
		if r != nil && r.Pids > 0 {
			l.Pids = r.Pids
		}
	}
	if l.Pids < 0 { // -1: unlimited, as Docker reads it
		l.Pids = 0
	}
	return l
}

// portRange parses an expose entry: "3000", "3000/tcp", "3000-3005".
func portRange(s string) (int, int, error) {
	s, _, _ = strings.Cut(s, "/")
	a, b, isRange := strings.Cut(s, "-")
	lo, err := strconv.Atoi(a)
	if err != nil || lo < 1 || lo > 65535 {
		return 0, 0, fmt.Errorf("not a port number")
	}
	if !isRange {
		return lo, lo, nil
	}
	hi, err := strconv.Atoi(b)
	if err != nil || hi < lo || hi > 65535 {
		return 0, 0, fmt.Errorf("not a port range")
	}
	return lo, hi, nil
}

// isPostgres reports whether image is an official-style PostgreSQL image:
// postgres:16, docker.io/library/postgres, postgres-alpine...
func isPostgres(image string) bool {
	name := image
	if i := strings.LastIndexByte(name, '/'); i >= 0 {
		name = name[i+1:]
	}
	return strings.HasPrefix(name, "postgres")
}

func healthcheck(h *types.HealthCheckConfig) *tandem.Healthcheck {
	if h == nil || h.Disable || len(h.Test) == 0 || h.Test[0] == "NONE" {
		return nil
	}
	hc := &tandem.Healthcheck{
		Test:          append([]string{}, h.Test...),
		Interval:      orDefault(h.Interval, tandem.DefaultHealthInterval),
		Timeout:       orDefault(h.Timeout, tandem.DefaultHealthTimeout),
		StartPeriod:   orDefault(h.StartPeriod, 0),
		StartInterval: orDefault(h.StartInterval, tandem.DefaultHealthStartInterval),
		Retries:       tandem.DefaultHealthRetries,
	}
	if h.Retries != nil && *h.Retries > 0 {
		hc.Retries = int(min(*h.Retries, 1<<31-1))
	}
	return hc
}

// orDefault fills in Docker's default where the file is silent or, as
// Docker reads it, says 0.
func orDefault(d *types.Duration, def time.Duration) time.Duration {
	if d == nil || *d == 0 {
		return def
	}
	return time.Duration(*d)
}

// restart reads the policy as docker compose does: deploy.restart_policy
// wins over restart, and "on-failure:5" is on-failure (tandem keeps no
// retry count).
func (d *decoder) restart(s types.ServiceConfig) tandem.Restart {
	policy, path := s.Restart, "services."+s.Name+".restart"
	if s.Deploy != nil && s.Deploy.RestartPolicy != nil && s.Deploy.RestartPolicy.Condition != "" {
		policy, path = s.Deploy.RestartPolicy.Condition, "services."+s.Name+".deploy.restart_policy.condition"
	}
	name, _, _ := strings.Cut(policy, ":")
	switch name {
	case "", "no", "none":
		return tandem.RestartNo
	case "always", "any":
		return tandem.RestartAlways
	case "on-failure":
		return tandem.RestartOnFailure
	case "unless-stopped":
		return tandem.RestartUnlessStopped
	}
	d.fail(path, "service %q: unknown restart policy %q (no, always, on-failure, unless-stopped)", s.Name, policy)
	return tandem.RestartNo
}
