//go:build !linux

package process

import (
	"context"

	"github.com/tandem-dev/tandem"
)

// Runtime is unavailable off Linux: it is built on network namespaces.
type Runtime struct{}

var _ tandem.Runtime = (*Runtime)(nil)

func New() *Runtime           { return &Runtime{} }
func Init()                   {}
func (*Runtime) Name() string { return "process" }

func (*Runtime) Check(svc *tandem.Service) error { return errUnsupported() }

func (*Runtime) NewSandbox(context.Context, tandem.SandboxSpec) (tandem.Sandbox, error) {
	return nil, errUnsupported()
}

func errUnsupported() error {
	return tandem.Errorf(tandem.EUNSUPPORTED, "the process runtime needs Linux network namespaces; use the docker runtime on this system")
}
