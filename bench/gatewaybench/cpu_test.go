package main

import (
	"os"
	"os/exec"
	"testing"
	"time"
)

// cpuTime counts the CPU a process spends, and with children that of its
// child processes: a busy child is seen through its parent.
func TestCPUTimeCountsChildren(t *testing.T) {
	busy := exec.Command("sh", "-c", "while :; do :; done")
	if err := busy.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { busy.Process.Kill(); busy.Wait() }()
	me := cpuOf{pid: os.Getpid(), children: true}
	alone := cpuOf{pid: os.Getpid()}
	t0, err := cpuTime(me)
	if err != nil {
		t.Fatal(err)
	}
	a0, _ := cpuTime(alone)
	deadline := time.Now().Add(20 * time.Second)
	for {
		t1, err := cpuTime(me)
		if err != nil {
			t.Fatal(err)
		}
		if t1-t0 >= 200*time.Millisecond {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the busy child's CPU is not counted: %v in 20 s", t1-t0)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if a1, _ := cpuTime(alone); a1-a0 >= 200*time.Millisecond {
		t.Errorf("without children, the child's CPU is counted: %v", a1-a0)
	}
}
