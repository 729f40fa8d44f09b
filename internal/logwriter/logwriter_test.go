package logwriter

import (
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

func TestLinesArriveSoonAndTogether(t *testing.T) {
	path := filepath.Join(t.TempDir(), "access.log")
	f, _ := os.Create(path)
	w := New(f)
	for i := 0; i < 100; i++ {
		w.Write([]byte("a line\n"))
	}
	if b, _ := os.ReadFile(path); len(b) != 0 {
		t.Errorf("written at once: %d bytes", len(b))
	}
	deadline := time.Now().Add(2 * time.Second)
	for {
		b, _ := os.ReadFile(path)
		if len(b) == 700 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("not written within 2s: %d bytes", len(b))
		}
		time.Sleep(10 * time.Millisecond)
	}
	// Concurrent writers, then Close: nothing lost.
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := 0; j < 1000; j++ {
				w.Write([]byte("0123456789\n"))
			}
		}()
	}
	wg.Wait()
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(path); len(b) != 700+8*1000*11 {
		t.Errorf("%d bytes after close", len(b))
	}
}
