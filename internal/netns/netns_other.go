//go:build !linux

package netns

import (
	"context"
	"net"
	"os"
	"runtime"

	"github.com/tandem-dev/tandem"
)

func unsupported() error {
	return tandem.Errorf(tandem.EUNSUPPORTED, "%s has no network namespaces to enter", runtime.GOOS)
}

// Usable reports that no namespace can be entered here.
func Usable() error { return unsupported() }

// OfPid has no namespace to open here.
func OfPid(int) (*os.File, error) { return nil, unsupported() }

// DialIn cannot enter a namespace here.
func DialIn(context.Context, *os.File, *net.Dialer, string, string) (net.Conn, error) {
	return nil, unsupported()
}
