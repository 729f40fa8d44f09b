package kube

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"math"
	"path"
	"time"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	corev1ac "k8s.io/client-go/applyconfigurations/core/v1"
	metav1ac "k8s.io/client-go/applyconfigurations/meta/v1"
	networkingv1ac "k8s.io/client-go/applyconfigurations/networking/v1"

	"github.com/tandem-dev/tandem"
)

// namespace is the instance's namespace, labelled so that what a killed
// tandem left can be found, and annotated with the data directory it
// belongs to and the machine that directory is on (Runtime.sweepGone).
func (s *Sandbox) namespace() *corev1ac.NamespaceApplyConfiguration {
	return corev1ac.Namespace(s.ns).WithLabels(s.labels("", "")).
		WithAnnotations(map[string]string{annotationDataDir: s.data, annotationMachine: machineID()})
}

// labels mark an object as the instance's; service and role as a pod's.
func (s *Sandbox) labels(service, role string) map[string]string {
	l := map[string]string{
		labelManaged:  "tandem",
		labelInstance: labelSafe(s.spec.Name, 63),
		labelData:     dataDigest(s.data),
	}
	if service != "" {
		l[labelService] = service
	}
	if role != "" {
		l[labelRole] = role
	}
	return l
}

// isolation lets the namespace's pods be reached only from pods of the
// same namespace and of namespaces labelled as the gateway's: one preview
// cannot reach another's database. It binds only where the cluster's
// network plugin enforces NetworkPolicies.
func (s *Sandbox) isolation() *networkingv1ac.NetworkPolicyApplyConfiguration {
	return networkingv1ac.NetworkPolicy("isolate", s.ns).
		WithLabels(s.labels("", "")).
		WithSpec(networkingv1ac.NetworkPolicySpec().
			WithPodSelector(metav1ac.LabelSelector()).
			WithPolicyTypes(networkingv1.PolicyTypeIngress).
			WithIngress(networkingv1ac.NetworkPolicyIngressRule().WithFrom(
				networkingv1ac.NetworkPolicyPeer().WithPodSelector(metav1ac.LabelSelector()),
				networkingv1ac.NetworkPolicyPeer().WithNamespaceSelector(metav1ac.LabelSelector().WithMatchLabels(map[string]string{LabelGateway: "true"})),
			)))
}

// service is the headless Service that gives svc's pod its Compose name:
// the name resolves to the pod's address, on every port it listens on, as
// soon as the pod has one (ready or not, as under Compose).
func (s *Sandbox) service(svc *tandem.Service) *corev1ac.ServiceApplyConfiguration {
	return corev1ac.Service(svc.Name, s.ns).
		WithLabels(s.labels(svc.Name, "")).
		WithSpec(corev1ac.ServiceSpec().
			WithClusterIP(corev1.ClusterIPNone).
			WithSelector(map[string]string{labelService: svc.Name, labelRole: "service"}).
			WithPublishNotReadyAddresses(true))
}

// secretName holds svc's environment.
func secretName(svc *tandem.Service) string { return "env-" + svc.Name }

// environment is the Secret svc's pods read their environment from: the
// values (generated secrets among them) are never in a pod's manifest.
func (s *Sandbox) environment(svc *tandem.Service) *corev1ac.SecretApplyConfiguration {
	return corev1ac.Secret(secretName(svc), s.ns).
		WithLabels(s.labels(svc.Name, "")).
		WithType(corev1.SecretTypeOpaque).
		WithData(envData(svc.Environment))
}

// envData is an environment as a Secret's data. (Data, not StringData:
// the API server keeps no StringData, so a Secret applied again with the
// same values would count as changed and get a new resourceVersion.)
func envData(env map[string]string) map[string][]byte {
	d := make(map[string][]byte, len(env))
	for k, v := range env {
		d[k] = []byte(v)
	}
	return d
}

// digest identifies the pod svc's service role makes: a pod whose
// annotation carries the same digest (and reads the same version of the
// environment's Secret) is the pod this tandem would make, and is kept when
// a restarted tandem starts svc again. Environment values are not in it:
// they are in the Secret, whose resourceVersion the other annotation holds.
func (s *Sandbox) digest(svc *tandem.Service) string {
	p := s.pod("", svc, "service", nil)
	b, err := json.Marshal(struct {
		Labels map[string]string
		Spec   any
	}{p.Labels, p.Spec})
	if err != nil {
		panic(err) // apply configurations always marshal
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:16])
}

// pod is how svc runs: its image with Compose's entrypoint and command
// (command and args, as Kubernetes names them), its environment from its
// Secret, its limits, and its data volume. role "exec" is a one-off pod
// running argv in svc's place, as docker compose run does; role "data" is
// a postgres service's maintenance pod, holding its claim (argv nil) or its
// server started with argv.
func (s *Sandbox) pod(name string, svc *tandem.Service, role string, argv []string) *corev1ac.PodApplyConfiguration {
	c := corev1ac.Container().
		WithName("main").
		WithImage(svc.Image).
		WithImagePullPolicy(s.rt.pullPolicy()).
		WithEnvFrom(corev1ac.EnvFromSource().WithSecretRef(corev1ac.SecretEnvSource().WithName(secretName(svc)))).
		WithSecurityContext(corev1ac.SecurityContext().WithAllowPrivilegeEscalation(false))
	switch {
	case role == "exec":
		c.WithCommand(argv...)
	case role == "data" && argv == nil:
		c.WithCommand("sh", "-c", hold)
	case role == "data":
		// The image's entrypoint (which makes the database on first
		// start) with argv as the server's command line.
		if svc.Entrypoint != nil {
			c.WithCommand(svc.Entrypoint...)
		}
		c.WithArgs(argv...)
	default:
		if svc.Entrypoint != nil {
			c.WithCommand(svc.Entrypoint...)
		}
		if svc.Command != nil {
			c.WithArgs(svc.Command...)
		}
	}
	if svc.ImageWorkingDir != "" {
		c.WithWorkingDir(svc.ImageWorkingDir)
	}
	if res := resources(svc.Limits); res != nil {
		c.WithResources(res)
	}
	if role == "service" {
		probes(c, svc.Healthcheck)
	}
	spec := corev1ac.PodSpec().
		WithRestartPolicy(corev1.RestartPolicyNever).
		WithEnableServiceLinks(false).
		WithAutomountServiceAccountToken(false).
		WithTerminationGracePeriodSeconds(graceSeconds(svc.StopGrace))
	if sig := svc.StopSignal; role == "service" && sig != "" && sig != "SIGTERM" {
		// Kubernetes sends SIGTERM unless told otherwise, and is told
		// only for pods that name their OS.
		c.WithLifecycle(corev1ac.Lifecycle().WithStopSignal(corev1.Signal(sig)))
		spec.WithOS(corev1ac.PodOS().WithName(corev1.Linux))
	}
	if isPostgres(svc) {
		if s.rt.claims() {
			// A subdirectory: a fresh filesystem's lost+found would make
			// the volume's root a directory initdb refuses.
			c.WithVolumeMounts(corev1ac.VolumeMount().WithName("data").WithMountPath(pgdata(svc)).WithSubPath("pgdata"))
			spec.WithVolumes(corev1ac.Volume().WithName("data").
				WithPersistentVolumeClaim(corev1ac.PersistentVolumeClaimVolumeSource().WithClaimName(claimName(svc))))
		} else {
			c.WithVolumeMounts(corev1ac.VolumeMount().WithName("data").WithMountPath(pgdata(svc)))
			spec.WithVolumes(corev1ac.Volume().WithName("data").
				WithHostPath(corev1ac.HostPathVolumeSource().WithPath(s.pgDataHost(svc)).WithType(corev1.HostPathDirectoryOrCreate)))
		}
	}
	spec.WithContainers(c)
	return corev1ac.Pod(name, s.ns).WithLabels(s.labels(svc.Name, role)).WithSpec(spec)
}

// claimName is the PersistentVolumeClaim of a postgres service's data.
func claimName(svc *tandem.Service) string { return "pgdata-" + svc.Name }

// claim is the PersistentVolumeClaim of svc's data (Runtime.Storage
// StorageClaim): one volume, read and written from one node.
func (s *Sandbox) claim(svc *tandem.Service) *corev1ac.PersistentVolumeClaimApplyConfiguration {
	spec := corev1ac.PersistentVolumeClaimSpec().
		WithAccessModes(corev1.ReadWriteOnce).
		WithResources(corev1ac.VolumeResourceRequirements().WithRequests(corev1.ResourceList{
			corev1.ResourceStorage: s.rt.claimSize(),
		}))
	if s.rt.StorageClass != "" {
		spec.WithStorageClassName(s.rt.StorageClass)
	}
	return corev1ac.PersistentVolumeClaim(claimName(svc), s.ns).WithLabels(s.labels(svc.Name, "")).WithSpec(spec)
}

func (r *Runtime) pullPolicy() corev1.PullPolicy {
	if r.PullPolicy != "" {
		return r.PullPolicy
	}
	return corev1.PullIfNotPresent
}

// graceSeconds is stop_grace_period in the whole seconds Kubernetes takes.
func graceSeconds(d time.Duration) int64 {
	if d <= 0 {
		d = tandem.DefaultStopGrace
	}
	return int64((d + time.Second - 1) / time.Second)
}

// probes make hc the container's readiness probe, so that the kubelet runs
// it beside the container (the supervisor follows its verdicts, see
// proc.Probed), rather than tandem by an exec through the API server for
// every probe. Compose's retries are the failures in a row that make a
// service that passed unhealthy; its start period is the supervisor's to
// apply. The startup probe, every second and never failing the pod, is the
// eager probing of a starting service: the kubelet probes readiness at once
// when it passes, and the service is healthy then, not up to an interval
// later.
func probes(c *corev1ac.ContainerApplyConfiguration, hc *tandem.Healthcheck) {
	argv := hc.Argv()
	if argv == nil {
		return
	}
	interval, timeout := hc.Timing()
	probe := func() *corev1ac.ProbeApplyConfiguration {
		return corev1ac.Probe().
			WithExec(corev1ac.ExecAction().WithCommand(argv...)).
			WithTimeoutSeconds(int32(graceSeconds(timeout))).
			WithSuccessThreshold(1)
	}
	c.WithStartupProbe(probe().WithPeriodSeconds(1).WithFailureThreshold(math.MaxInt32))
	c.WithReadinessProbe(probe().WithPeriodSeconds(int32(graceSeconds(interval))).WithFailureThreshold(int32(max(hc.Retries, 1))))
}

// resources are Compose's limits as the container's. pids_limit has no
// per-pod setting: the kubelet's podPidsLimit bounds every pod alike.
func resources(l tandem.Limits) *corev1ac.ResourceRequirementsApplyConfiguration {
	list := corev1.ResourceList{}
	if l.Memory > 0 {
		list[corev1.ResourceMemory] = *resource.NewQuantity(l.Memory, resource.BinarySI)
	}
	if l.CPUs > 0 {
		list[corev1.ResourceCPU] = *resource.NewMilliQuantity(int64(l.CPUs*1000), resource.DecimalSI)
	}
	if len(list) == 0 {
		return nil
	}
	return corev1ac.ResourceRequirements().WithLimits(list)
}

// isPostgres reports whether svc runs a postgres image as it is.
func isPostgres(svc *tandem.Service) bool { return tandem.IsPostgresImage(svc.Image) }

// pgdata is where the server keeps its data in the container.
func pgdata(svc *tandem.Service) string {
	if v := svc.Environment["PGDATA"]; v != "" {
		return path.Clean(v)
	}
	return "/var/lib/postgresql/data"
}
