// Command tandem runs a decoupled web stack (an API backend, a server-rendering
// frontend, PostgreSQL) from its Compose file, behind one edge gateway.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/pprof"
	"syscall"

	"github.com/sirupsen/logrus"
	"github.com/spf13/cobra"

	"github.com/tandem-dev/tandem/internal/sysmon"
	"github.com/tandem-dev/tandem/process"
)

func main() {
	// First of all: this may be the process runtime's shim, re-executed.
	process.Init()
	keepMonitorAwake(os.Args[1:])
	os.Exit(profiled(func() int { return Main(context.Background(), os.Args[1:], os.Stdin, os.Stdout, os.Stderr) }))
}

// keepMonitorAwake re-executes tandem up and tandem serve with the Go
// runtime's system monitor kept out of deep sleep (package sysmon), and
// takes the setting out of the environment of the re-executed process.
func keepMonitorAwake(args []string) {
	if !sysmon.Restore() && sysmon.Server(args) {
		sysmon.Reexec()
	}
}

// profiled runs f with a CPU profile written to $TANDEM_CPUPROFILE, if set:
// how the gateway's hot path is measured under load.
func profiled(f func() int) int {
	path := os.Getenv("TANDEM_CPUPROFILE")
	if path == "" {
		return f()
	}
	out, err := os.Create(path)
	if err != nil {
		fmt.Fprintf(os.Stderr, "tandem: cpu profile: %v\n", err)
		return f()
	}
	defer out.Close()
	pprof.StartCPUProfile(out)
	defer pprof.StopCPUProfile()
	return f()
}

// exitError carries a command's exit status without another message.
type exitError int

func (e exitError) Error() string { return fmt.Sprintf("exit status %d", int(e)) }

// Main runs the command line args and returns the exit status. Tests call
// it to run the real program in-process.
func Main(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	logrus.SetOutput(stderr)
	logrus.SetFormatter(composeWarnings{})
	root := newRoot(stdout, stderr)
	root.SetArgs(args)
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	err := root.ExecuteContext(ctx)
	var code exitError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &code):
		return int(code)
	}
	fmt.Fprintf(stderr, "tandem: %v\n", err)
	return 1
}

func newRoot(stdout, stderr io.Writer) *cobra.Command {
	root := &cobra.Command{
		Use:   "tandem",
		Short: "Run a decoupled web stack behind one edge gateway",
		Long: `tandem runs a stack described by a Compose file — an API backend (Django, or any
HTTP server), a server-rendering frontend (Next.js), PostgreSQL — behind one
gateway that routes by path as your production reverse proxy does, so the
browser sees one origin: no CORS, the same cookies.

It runs services as local programs without Docker: each stack instance gets its
own network namespace, where every service binds the port its command names and
reaches the others by service name, as under Compose. The x-tandem block of the
Compose file adds what Compose cannot say: the routes, and build and seed steps.

Start with:  tandem up -f docker-compose.yml
Reference:   docs/stack-file.md`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(
		newUpCmd(stdout, stderr),
		newCheckCmd(stdout),
		newRoutesCmd(stdout, stderr),
		newPsCmd(stdout),
		newLogsCmd(stdout),
		newServiceCmd("start", "Start a stopped service of a running tandem up", stdout),
		newServiceCmd("stop", "Stop a service of a running tandem up (its restart policy does not apply)", stdout),
		newServiceCmd("restart", "Restart a service of a running tandem up", stdout),
		newServeCmd(stdout, stderr),
		newCacheCmd(stdout),
		newPreviewCmd(stdout, stderr),
		newTokenCmd(stdout, stderr), newGrantCmd(stdout), newLoginCmd(stdout, stderr), newLogoutCmd(stdout),
		newShareCmd(stdout, stderr),
		newReviewCmd(stdout, stderr),
		newGatewayCmd(stdout, stderr),
		newAuditCmd(stdout, stderr),
		newVersionCmd(stdout),
	)
	return root
}

// signalContext is ctx canceled by the first SIGINT or SIGTERM; the second
// cancels hard, for when a graceful stop takes too long.
func signalContext(ctx context.Context) (soft, hard context.Context, stop func()) {
	soft, cancelSoft := context.WithCancel(ctx)
	hard, cancelHard := context.WithCancel(ctx)
	ch := make(chan os.Signal, 2)
	signal.Notify(ch, syscall.SIGINT, syscall.SIGTERM)
	done := make(chan struct{})
	go func() {
		n := 0
		for {
			select {
			case <-ch:
				n++
				if n == 1 {
					cancelSoft()
				} else {
					cancelHard()
				}
			case <-done:
				return
			}
		}
	}()
	return soft, hard, func() {
		signal.Stop(ch)
		close(done)
		cancelSoft()
		cancelHard()
	}
}
