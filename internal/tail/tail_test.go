package tail

import (
	"fmt"
	"strings"
	"testing"
)

func TestLinesKeepsTheEnd(t *testing.T) {
	var w Writer
	for i := range 2000 {
		fmt.Fprintf(&w, "line %d\n", i)
	}
	got := w.Lines(3)
	if got != "line 1997\nline 1998\nline 1999" {
		t.Errorf("last 3 lines: %q", got)
	}
	if len(w.buf) > keep {
		t.Errorf("holds %d bytes, more than %d", len(w.buf), keep)
	}
	var short Writer
	short.Write([]byte("\n  only one  \n\n"))
	if got := short.Lines(10); got != "only one" {
		t.Errorf("%q", got)
	}
	if got := (&Writer{}).Lines(10); got != "" || strings.Contains(got, "\n") {
		t.Errorf("nothing written: %q", got)
	}
}
