//go:build kubernetes

package main

import (
	"github.com/tandem-dev/tandem"
	"github.com/tandem-dev/tandem/kube"
)

// kubeRuntime is the kubernetes runtime, on the cluster cfg names ($KUBECONFIG
// or in-cluster configuration when nil).
func kubeRuntime(snapshots string, cfg *kubeConfig) (tandem.Runtime, error) {
	rt := &kube.Runtime{SnapshotDir: snapshots}
	if cfg != nil {
		rt.Kubeconfig, rt.Context, rt.Dial = cfg.Kubeconfig, cfg.Context, cfg.Dial
		rt.Storage, rt.StorageClass, rt.ClaimSize = cfg.Storage, cfg.StorageClass, cfg.ClaimSize
	}
	return rt, nil
}
