package main

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// cpuOf names a server whose CPU time a wrk run counts: the threads of pid,
// and with children those of its child processes too (nginx's workers).
type cpuOf struct {
	name     string
	pid      int
	children bool
}

// cpuTime is the time the threads of c have run, from each thread's
// schedstat (nanoseconds, where /proc/PID/stat counts 10 ms ticks).
func cpuTime(c cpuOf) (time.Duration, error) {
	pids := []int{c.pid}
	if c.children {
		b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(c.pid), "task", strconv.Itoa(c.pid), "children"))
		if err != nil {
			return 0, err
		}
		for _, f := range strings.Fields(string(b)) {
			if n, err := strconv.Atoi(f); err == nil {
				pids = append(pids, n)
			}
		}
	}
	var sum time.Duration
	for _, pid := range pids {
		tasks, err := filepath.Glob(filepath.Join("/proc", strconv.Itoa(pid), "task", "*", "schedstat"))
		if err != nil {
			return 0, err
		}
		for _, t := range tasks {
			b, err := os.ReadFile(t)
			if err != nil {
				continue // a thread that ended meanwhile
			}
			if f := strings.Fields(string(b)); len(f) > 0 {
				if ns, err := strconv.ParseInt(f[0], 10, 64); err == nil {
					sum += time.Duration(ns)
				}
			}
		}
	}
	return sum, nil
}

// cpuTimes reads each of cs; -1 for one that cannot be read.
func cpuTimes(cs []cpuOf) []time.Duration {
	out := make([]time.Duration, len(cs))
	for i, c := range cs {
		d, err := cpuTime(c)
		if err != nil {
			d = -1
		}
		out[i] = d
	}
	return out
}
