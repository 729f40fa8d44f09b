// Package sysmon keeps the Go runtime's system monitor out of its deep
// sleep in tandem's long-running servers (tandem up, tandem serve).
//
// A proxy that waits on its services between requests has every P idle
// many times a second. The monitor then sleeps until the next system call,
// which wakes it (a futex wake on the request's path) and resets its period
// to 20 µs: it polls every 20 µs while the request is served, and sleeps
// again. That is several thread wake-ups a request: a fifth of the
// gateway's CPU per request on the /api/ hop, and two fifths of what
// copying a service's log line costs (docs/benchmarks.md). The period is
// fixed (golang/go#18236); the one setting that keeps the monitor out of
// deep sleep is GODEBUG's schedtrace, which the runtime reads only when it
// starts. So the server re-executes itself once with it, set to the
// largest period (2^31-1 ms: a scheduler line on standard error every
// 24.8 days of the machine's uptime, and one at the start on a machine up
// longer than that). Out of deep sleep, the monitor backs off to a poll
// every 10 ms, as in any busy Go server.
//
// The setting is removed from the environment again at once, so no child
// (a shim, a service, a build) inherits it.
package sysmon

import (
	"os"
	"strings"
)

// setting is what is added to GODEBUG.
const setting = "schedtrace=2147483647"

// Restore removes the setting Reexec added from the environment, and
// reports whether it was there: this process is the re-executed one.
func Restore() bool {
	v, ok := os.LookupEnv("GODEBUG")
	if !ok {
		return false
	}
	switch {
	case v == setting:
		os.Unsetenv("GODEBUG")
	case strings.HasSuffix(v, ","+setting):
		os.Setenv("GODEBUG", strings.TrimSuffix(v, ","+setting))
	default:
		return false
	}
	return true
}

// Server reports whether args (the command line after the program's name)
// run one of tandem's long-running servers: its first word is up or serve.
func Server(args []string) bool {
	for _, a := range args {
		if strings.HasPrefix(a, "-") {
			continue
		}
		return a == "up" || a == "serve"
	}
	return false
}

// withSetting is env with the setting added to GODEBUG; false when GODEBUG
// already sets schedtrace (the user's choice stands).
func withSetting(env []string) ([]string, bool) {
	out := make([]string, 0, len(env)+1)
	found := false
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, "GODEBUG="); ok {
			for _, f := range strings.Split(v, ",") {
				if strings.HasPrefix(f, "schedtrace=") {
					return nil, false
				}
			}
			found = true
			if v != "" {
				kv += ","
			}
			kv += setting
		}
		out = append(out, kv)
	}
	if !found {
		out = append(out, "GODEBUG="+setting)
	}
	return out, true
}
