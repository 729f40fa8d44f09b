package main

import (
	"context"
	"os"
	"testing"

	"github.com/tandem-dev/tandem"
	"github.com/tandem-dev/tandem/docker"
)

// One place turns a runtime's name into a runtime: auto is the process
// runtime where tandem may make namespaces, with image services beside it
// as containers only when the stack has some and an engine answers.
func TestPickRuntime(t *testing.T) {
	ctx := context.Background()
	source := []*tandem.Service{{Name: "api", Context: t.TempDir(), Command: []string{"serve"}}}
	withImage := append(source, &tandem.Service{Name: "cache", Image: "redis:7"})
	for _, c := range []struct {
		name     string
		services []*tandem.Service
		want     string
	}{
		{"process", withImage, "process"},
		{"docker", source, "docker"},
	} {
		if rt, err := pickRuntime(ctx, c.name, c.services, ""); err != nil || rt.Name() != c.want {
			t.Errorf("%s: %v %v, want %s", c.name, rt, err, c.want)
		}
	}
	if _, err := pickRuntime(ctx, "podman", nil, ""); tandem.ErrorCode(err) != tandem.EINVALID {
		t.Errorf("an unknown runtime: %v, want EINVALID", err)
	}
	auto, err := pickRuntime(ctx, "auto", source, "")
	if err != nil {
		t.Fatal(err)
	}
	if os.Geteuid() != 0 {
		if auto.Name() != "docker" {
			t.Errorf("auto without root: %s, want docker", auto.Name())
		}
		return
	}
	if auto.Name() != "process" {
		t.Errorf("auto, as root, for a stack built from source: %s, want process", auto.Name())
	}
	mix, err := pickRuntime(ctx, "auto", withImage, "")
	if err != nil {
		t.Fatal(err)
	}
	engine := docker.New().Available(ctx) == nil
	if want := map[bool]string{true: "mixed", false: "process"}[engine]; mix.Name() != want {
		t.Errorf("auto, as root, with redis:7 (engine answers: %v): %s, want %s", engine, mix.Name(), want)
	}
	if rt, err := previewRuntime(ctx, "auto", ""); err != nil || rt.Name() != map[bool]string{true: "mixed", false: "process"}[engine] {
		t.Errorf("previews under auto (engine answers: %v): %v %v", engine, rt, err)
	}
}
