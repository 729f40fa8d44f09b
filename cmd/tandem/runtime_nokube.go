//go:build !kubernetes

package main

import "github.com/tandem-dev/tandem"

// kubeRuntime says that this tandem was built without the kubernetes
// runtime. client-go's packages make every start of tandem about 15 ms
// slower, and the process runtime starts tandem for every service and
// every healthcheck probe (a preview's wake took 4.6 s instead of 4.0 s
// with them in), so they are built in only with -tags kubernetes.
func kubeRuntime(string, *kubeConfig) (tandem.Runtime, error) {
	return nil, tandem.Errorf(tandem.EUNSUPPORTED,
		"runtime kubernetes: this tandem was built without it: build it with `go build -tags kubernetes ./cmd/tandem` (make build TAGS=kubernetes)")
}
