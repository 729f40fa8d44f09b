//go:build linux

package docker

import (
	"os"
	"strconv"
	"strings"
)

// startTime is when process pid started, in clock ticks since boot
// (/proc/PID/stat field 22): with the pid, it tells a process from a later
// one that got its pid.
func startTime(pid int) string {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return ""
	}
	s := string(b)
	if i := strings.LastIndexByte(s, ')'); i >= 0 {
		s = s[i+1:]
	}
	f := strings.Fields(s)
	if len(f) < 20 {
		return ""
	}
	return f[19]
}
