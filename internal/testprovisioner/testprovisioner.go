// Package testprovisioner gives a test cluster that has no storage
// provisioner a real dynamic one for the test's duration: a StorageClass
// whose claims are provisioned by the controller of
// sigs.k8s.io/sig-storage-lib-external-provisioner (the library external
// provisioners such as local-path and NFS are built on), with directories
// on the node as the volumes. Claims then go through the cluster's own
// path: WaitForFirstConsumer, the scheduler choosing the node, the
// controller manager binding the volume the provisioner made, and reclaim
// policy Delete removing it with its claim.
package testprovisioner

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/klog/v2"
	"sigs.k8s.io/sig-storage-lib-external-provisioner/v13/controller"
)

// Class is the storage class whose claims are provisioned; Name the
// provisioner it names.
const (
	Class = "tandem-test"
	Name  = "tandem.dev/test-hostpath"
)

// Label marks the volumes made here ("true"): for tests, and for cleanup to
// find those the controller had no time to delete.
const Label = "dev.tandem/test-provisioner"

// Start creates the storage class (WaitForFirstConsumer, reclaim Delete)
// and runs the provisioner until the test ends. Volumes are directories
// in a temporary directory of the test's, on this machine: the test
// cluster's one node.
func Start(t testing.TB, cfg *rest.Config) {
	t.Helper()
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	bg := context.Background()
	wait, del := storagev1.VolumeBindingWaitForFirstConsumer, corev1.PersistentVolumeReclaimDelete
	sc := &storagev1.StorageClass{ObjectMeta: metav1.ObjectMeta{Name: Class}, Provisioner: Name,
		VolumeBindingMode: &wait, ReclaimPolicy: &del}
	// A class left by a test that was killed is made again: its fields
	// cannot be updated.
	_ = cs.StorageV1().StorageClasses().Delete(bg, Class, metav1.DeleteOptions{})
	if _, err := cs.StorageV1().StorageClasses().Create(bg, sc, metav1.CreateOptions{}); err != nil {
		t.Fatalf("storage class %s: %v", Class, err)
	}
	// The library logs through klog; the test reads what it needs from
	// the objects.
	ctx, cancel := context.WithCancel(klog.NewContext(bg, logr.Discard()))
	pc := controller.NewProvisionController(ctx, cs, Name, &hostPath{cs: cs, dir: dir},
		controller.LeaderElection(false),
		controller.ExponentialBackOffOnError(false),
		controller.FailedProvisionThreshold(0),
		controller.ResyncPeriod(30*time.Second))
	done := make(chan struct{})
	go func() {
		defer close(done)
		pc.Run(ctx)
	}()
	t.Cleanup(func() {
		// The controller deletes a volume once its claim is gone (the
		// namespaces are deleted by cleanups that ran before this one);
		// what it has not deleted within a minute is deleted here.
		pvs := cs.CoreV1().PersistentVolumes()
		sel := metav1.ListOptions{LabelSelector: Label + "=true"}
		for end := time.Now().Add(time.Minute); time.Now().Before(end); time.Sleep(time.Second) {
			l, err := pvs.List(bg, sel)
			if err != nil || !anyBound(l.Items) {
				break
			}
		}
		cancel()
		<-done
		_ = pvs.DeleteCollection(bg, metav1.DeleteOptions{}, sel)
		_ = cs.StorageV1().StorageClasses().Delete(bg, Class, metav1.DeleteOptions{})
	})
}

// anyBound: some volume still has a claim, or is on its way to deletion.
func anyBound(pvs []corev1.PersistentVolume) bool {
	for _, pv := range pvs {
		if pv.Status.Phase != corev1.VolumeAvailable {
			return true
		}
	}
	return false
}

// hostPath provisions a directory on the node the scheduler chose.
type hostPath struct {
	cs  kubernetes.Interface
	dir string
}

func (p *hostPath) Provision(ctx context.Context, o controller.ProvisionOptions) (*corev1.PersistentVolume, controller.ProvisioningState, error) {
	if o.SelectedNodeName == "" {
		return nil, controller.ProvisioningFinished, errors.New("no node selected: the class binds when a pod is scheduled")
	}
	node, err := p.cs.CoreV1().Nodes().Get(ctx, o.SelectedNodeName, metav1.GetOptions{})
	if err != nil {
		return nil, controller.ProvisioningInBackground, err
	}
	host := node.Labels[corev1.LabelHostname]
	if host == "" {
		return nil, controller.ProvisioningFinished, fmt.Errorf("node %s has no %s label", node.Name, corev1.LabelHostname)
	}
	path := filepath.Join(p.dir, o.PVName)
	if err := os.MkdirAll(path, 0o755); err != nil {
		return nil, controller.ProvisioningFinished, err
	}
	pv := &corev1.PersistentVolume{
		ObjectMeta: metav1.ObjectMeta{Name: o.PVName, Labels: map[string]string{Label: "true"}},
		Spec: corev1.PersistentVolumeSpec{
			Capacity:                      corev1.ResourceList{corev1.ResourceStorage: o.PVC.Spec.Resources.Requests[corev1.ResourceStorage]},
			AccessModes:                   o.PVC.Spec.AccessModes,
			PersistentVolumeReclaimPolicy: *o.StorageClass.ReclaimPolicy,
			PersistentVolumeSource: corev1.PersistentVolumeSource{HostPath: &corev1.HostPathVolumeSource{
				Path: path, Type: new(corev1.HostPathDirectory)}},
			NodeAffinity: &corev1.VolumeNodeAffinity{Required: &corev1.NodeSelector{NodeSelectorTerms: []corev1.NodeSelectorTerm{{
				MatchExpressions: []corev1.NodeSelectorRequirement{{Key: corev1.LabelHostname, Operator: corev1.NodeSelectorOpIn, Values: []string{host}}},
			}}}},
		},
	}
	return pv, controller.ProvisioningFinished, nil
}

func (p *hostPath) Delete(_ context.Context, pv *corev1.PersistentVolume) error {
	if pv.Spec.HostPath == nil {
		return &controller.IgnoredError{Reason: "not a volume of this provisioner"}
	}
	path := filepath.Clean(pv.Spec.HostPath.Path)
	if filepath.Dir(path) != p.dir || !strings.HasPrefix(filepath.Base(path), "pvc-") {
		return fmt.Errorf("volume %s: %s is not a directory this provisioner made", pv.Name, path)
	}
	return os.RemoveAll(path)
}
