package docker

import (
	"context"
	"os"
	"strconv"
	"strings"
	"syscall"

	"github.com/moby/moby/client"
)

// alive reports whether the tandem an owner label names still runs.
func alive(label string) bool {
	pidText, start, _ := strings.Cut(label, " ")
	pid, err := strconv.Atoi(pidText)
	if err != nil || pid <= 0 {
		return false
	}
	if pid == os.Getpid() {
		return start == startTime(pid)
	}
	p, err := os.FindProcess(pid)
	if err != nil || p.Signal(syscall.Signal(0)) != nil {
		return false
	}
	return start == "" || start == startTime(pid)
}

// sweepOrphans removes the containers of tandems that are gone (killed,
// even by SIGKILL): their instances cannot come back as they were, and a
// new tandem makes its own.
func (r *Runtime) sweepOrphans(ctx context.Context) {
	cli, err := r.client()
	if err != nil {
		return
	}
	list, err := cli.ContainerList(ctx, client.ContainerListOptions{All: true, Filters: make(client.Filters).Add("label", labelOwner)})
	if err != nil {
		return
	}
	for _, c := range list.Items {
		if !alive(c.Labels[labelOwner]) {
			cli.ContainerRemove(ctx, c.ID, client.ContainerRemoveOptions{Force: true, RemoveVolumes: true})
		}
	}
}

// removeInstance removes every container of the instance name with data
// in dataDir: what an earlier sandbox of it left.
func (r *Runtime) removeInstance(ctx context.Context, name, dataDir string) error {
	cli, err := r.client()
	if err != nil {
		return err
	}
	f := make(client.Filters).Add("label", labelInstance+"="+name, labelData+"="+dataDir)
	list, err := cli.ContainerList(ctx, client.ContainerListOptions{All: true, Filters: f})
	if err != nil {
		return err
	}
	for _, c := range list.Items {
		if _, err := cli.ContainerRemove(ctx, c.ID, client.ContainerRemoveOptions{Force: true, RemoveVolumes: true}); err != nil && !isNotFound(err) {
			return err
		}
	}
	return nil
}
