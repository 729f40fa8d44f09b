package kube

import (
	"context"
	"path/filepath"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/tools/cache"
)

// testClass is the storage class the tests' claims name; provision binds
// each of its claims to a volume of its own.
const testClass = "tandem-test"

// provision stands in for a cluster's storage provisioner for the test's
// duration: the test cluster has none. Each claim of testClass gets a
// hostPath volume in a directory of the test's, bound to it; the volumes
// go when the test ends.
func provision(t testing.TB, r *Runtime) {
	t.Helper()
	cs, err := r.client()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	bind := func(obj any) {
		c, ok := obj.(*corev1.PersistentVolumeClaim)
		if !ok || c.Spec.StorageClassName == nil || *c.Spec.StorageClassName != testClass || c.Spec.VolumeName != "" || c.DeletionTimestamp != nil {
			return
		}
		pv := &corev1.PersistentVolume{
			ObjectMeta: metav1.ObjectMeta{Name: "tandem-test-" + string(c.UID), Labels: map[string]string{"dev.tandem/test": "true"}},
			Spec: corev1.PersistentVolumeSpec{
				Capacity:                      corev1.ResourceList{corev1.ResourceStorage: c.Spec.Resources.Requests[corev1.ResourceStorage]},
				AccessModes:                   c.Spec.AccessModes,
				PersistentVolumeReclaimPolicy: corev1.PersistentVolumeReclaimRetain,
				StorageClassName:              testClass,
				ClaimRef:                      &corev1.ObjectReference{Kind: "PersistentVolumeClaim", Namespace: c.Namespace, Name: c.Name, UID: c.UID},
				PersistentVolumeSource: corev1.PersistentVolumeSource{HostPath: &corev1.HostPathVolumeSource{
					Path: filepath.Join(dir, string(c.UID)), Type: ptr(corev1.HostPathDirectoryOrCreate)}},
			},
		}
		if _, err := cs.Core.PersistentVolumes().Create(ctx, pv, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) && ctx.Err() == nil {
			t.Errorf("provision a volume for %s/%s: %v", c.Namespace, c.Name, err)
		}
	}
	claims := cs.Core.PersistentVolumeClaims("")
	// An informer, not a bare watch: it lists, and watches again when the
	// API server ends a watch.
	inf := cache.NewSharedIndexInformer(&cache.ListWatch{
		ListWithContextFunc: func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) { return claims.List(ctx, o) },
		WatchFuncWithContext: func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
			return claims.Watch(ctx, o)
		},
	}, &corev1.PersistentVolumeClaim{}, 0, cache.Indexers{})
	inf.AddEventHandler(cache.ResourceEventHandlerFuncs{AddFunc: bind, UpdateFunc: func(_, obj any) { bind(obj) }})
	done := make(chan struct{})
	go func() {
		defer close(done)
		inf.RunWithContext(ctx)
	}()
	t.Cleanup(func() {
		cancel()
		<-done
		cs.Core.PersistentVolumes().DeleteCollection(context.Background(), metav1.DeleteOptions{}, metav1.ListOptions{LabelSelector: "dev.tandem/test=true"})
	})
}

func ptr[T any](v T) *T { return &v }
