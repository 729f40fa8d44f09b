package main

import (
	"strings"
	"testing"
)

func TestAccessGrantCLI(t *testing.T) {
	s := newAccessServer(t)
	admin := []string{"--server", s.url, "--token-file", s.boot}
	code, out, stderr := runSplit(t, append([]string{"grant", "add", "--repo", "shop", "--role", "approver", "--group", "qa-leads"}, admin...)...)
	if code != 0 || !strings.Contains(out, "approver in shop to group qa-leads") {
		t.Fatalf("add: %d %s %s", code, out, stderr)
	}
	id := strings.TrimSuffix(strings.Fields(out)[1], ":")
	if code, _, stderr := runSplit(t, append([]string{"grant", "add", "--repo", "shop", "--role", "viewer", "--group", "x", "--email", "a@b.example"}, admin...)...); code != 1 || !strings.Contains(stderr, "none of the others can be") {
		t.Errorf("two at once: %d %s", code, stderr)
	}
	if code, out, _ := runSplit(t, append([]string{"grant", "list"}, admin...)...); code != 0 || !strings.Contains(out, id+"   approver in shop to group qa-leads  api") {
		t.Errorf("list: %d %q", code, out)
	}
	// Over the socket, as root; then it is gone.
	if code, out, stderr := runSplit(t, "grant", "remove", id, "--config", s.config); code != 0 || !strings.Contains(out, "grant "+id+" removed") {
		t.Errorf("remove: %d %s %s", code, out, stderr)
	}
	if grants, _ := s.store.Grants(t.Context()); len(grants) != 0 {
		t.Errorf("grants left: %v", grants)
	}
	if code, _, stderr := runSplit(t, "grant", "remove", "7", "--server", s.url); code != 1 || !strings.Contains(stderr, "tandem login") {
		t.Errorf("without a token: %d %s", code, stderr)
	}
}
