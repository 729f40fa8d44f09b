package sysmon

import (
	"os"
	"strings"
	"testing"
)

func TestServer(t *testing.T) {
	for _, c := range []struct {
		args []string
		want bool
	}{
		{[]string{"up"}, true},
		{[]string{"up", "-f", "compose.yml"}, true},
		{[]string{"--verbose", "serve", "--config", "x"}, true},
		{[]string{"ps", "up"}, false},
		{[]string{"help", "up"}, false},
		{nil, false},
	} {
		if got := Server(c.args); got != c.want {
			t.Errorf("Server(%q) = %v", c.args, got)
		}
	}
}

func TestTheSettingComesAndGoes(t *testing.T) {
	for _, user := range []string{"", "http2debug=1"} {
		env := []string{"PATH=/bin"}
		if user != "" {
			env = append(env, "GODEBUG="+user)
		}
		with, ok := withSetting(env)
		if !ok {
			t.Fatalf("GODEBUG=%q: not added", user)
		}
		var got string
		for _, kv := range with {
			if v, ok := strings.CutPrefix(kv, "GODEBUG="); ok {
				got = v
			}
		}
		want := setting
		if user != "" {
			want = user + "," + setting
		}
		if got != want {
			t.Fatalf("GODEBUG=%q: became %q, want %q", user, got, want)
		}
		// The re-executed process puts the user's value back.
		t.Setenv("GODEBUG", got)
		if !Restore() {
			t.Fatal("Restore did not find the setting")
		}
		if v, set := os.LookupEnv("GODEBUG"); v != user || set != (user != "") {
			t.Errorf("restored GODEBUG=%q (set %v), want %q", v, set, user)
		}
		if Restore() {
			t.Error("Restore found the setting twice")
		}
	}
	// A schedtrace of the user's own stands: nothing is re-executed.
	if _, ok := withSetting([]string{"GODEBUG=gctrace=1,schedtrace=1000"}); ok {
		t.Error("the user's schedtrace would be overridden")
	}
}
