package compose

import (
	"testing"

	"github.com/tandem-dev/tandem"
)

func TestLimitsAndPublishedPorts(t *testing.T) {
	stackDir(t, map[string]string{"compose.yml": `services:
  web:
    build: .
    command: x
    mem_limit: 512m
    cpus: 1.5
    pids_limit: 100
    ports: ["3000:3000", "127.0.0.1:5432:6543", "9000"]
  api:
    build: .
    command: x
    deploy: {resources: {limits: {memory: 1g, cpus: "0.25", pids: 50}}}
`})
	st := mustLoad(t, Options{})
	if got, want := st.Service("web").Limits, (tandem.Limits{Memory: 512 << 20, CPUs: 1.5, Pids: 100}); got != want {
		t.Errorf("web limits %+v, want %+v", got, want)
	}
	if got, want := st.Service("api").Limits, (tandem.Limits{Memory: 1 << 30, CPUs: 0.25, Pids: 50}); got != want {
		t.Errorf("api limits %+v (deploy.resources wins), want %+v", got, want)
	}
	pub := st.Service("web").Publish
	if len(pub) != 2 {
		t.Fatalf("published %+v, want two (a port without a host port is not published)", pub)
	}
	if p := pub[0]; p.HostIP != "" || p.HostPort != 3000 || p.Port != 3000 || p.Protocol != "tcp" || p.Pos.Line != 8 {
		t.Errorf("first binding %+v", p)
	}
	if p := pub[1]; p.HostIP != "127.0.0.1" || p.HostPort != 5432 || p.Port != 6543 {
		t.Errorf("second binding %+v", p)
	}
}
