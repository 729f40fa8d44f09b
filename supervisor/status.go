package supervisor

import (
	"fmt"
	"time"
)

// State is where a service is in its life.
type State string

const (
	Created   State = "created"   // waiting for its dependencies
	Starting  State = "starting"  // running; its healthcheck has not passed yet
	Running   State = "running"   // running, and it has no healthcheck
	Healthy   State = "healthy"   // running, and its healthcheck passes
	Unhealthy State = "unhealthy" // running, and its healthcheck keeps failing
	Exited    State = "exited"    // ended by itself
	Stopped   State = "stopped"   // stopped on request
	Failed    State = "failed"    // could not start: a dependency failed, or the command could not run
)

// up reports whether the service's process is running.
func (s State) up() bool {
	return s == Starting || s == Running || s == Healthy || s == Unhealthy
}

// Status is a service's state, for people and for the gateway.
type Status struct {
	Service  string    `json:"service"`
	State    State     `json:"state"`
	ID       string    `json:"id,omitempty"` // what the runtime calls the running process (tandem.Process.ID)
	ExitCode int       `json:"exit_code,omitempty"`
	Restarts int       `json:"restarts"`
	Since    time.Time `json:"since"`
	Health   string    `json:"health,omitempty"` // last healthcheck failure
	Error    string    `json:"error,omitempty"`  // why it failed or exited
}

// Reason says in a few words why the service takes no traffic.
func (s Status) Reason() string {
	switch s.State {
	case Created:
		return s.Service + " is waiting for its dependencies"
	case Starting:
		return s.Service + " is starting"
	case Unhealthy:
		return s.Service + " is unhealthy"
	case Exited:
		return fmt.Sprintf("%s exited with code %d", s.Service, s.ExitCode)
	case Stopped:
		return s.Service + " is stopped"
	case Failed:
		return s.Service + " failed to start"
	}
	return s.Service + " is not running"
}
