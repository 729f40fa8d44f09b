package supervisor

import (
	"context"
	"fmt"

	"github.com/tandem-dev/tandem"
)

// awaitDependencies blocks until every depends_on condition of u holds, and
// fails as docker compose does when one cannot: a dependency that exits, is
// unhealthy, or fails itself. A dependency with required: false that cannot
// be met is noted and skipped.
func (s *Supervisor) awaitDependencies(ctx context.Context, u *unit) error {
	for _, d := range u.svc.DependsOn {
		err := s.await(ctx, d)
		if err == nil {
			continue
		}
		if !d.Required {
			u.note("optional dependency %s: %v; starting anyway", d.Service, err)
			continue
		}
		return err
	}
	return nil
}

func (s *Supervisor) await(ctx context.Context, d tandem.Dependency) error {
	dep := s.units[d.Service]
	if dep == nil {
		return fmt.Errorf("dependency %s is not in the stack", d.Service)
	}
	if d.Condition == tandem.ServiceHealthy && dep.svc.Healthcheck == nil {
		return fmt.Errorf("dependency %s has no healthcheck, so condition service_healthy can never hold", d.Service)
	}
	var failure error
	_, err := dep.wait(ctx, func(st Status) bool {
		switch {
		case st.State == Failed:
			failure = fmt.Errorf("dependency %s failed to start", d.Service)
		case d.Condition == tandem.ServiceCompletedSuccessfully:
			if st.State == Exited || st.State == Stopped {
				if st.ExitCode != 0 {
					failure = fmt.Errorf("dependency %s did not complete successfully: exit code %d", d.Service, st.ExitCode)
				}
				return true
			}
			return false
		case d.Condition == tandem.ServiceHealthy:
			switch st.State {
			case Healthy:
				return true
			case Unhealthy:
				failure = fmt.Errorf("dependency %s is unhealthy", d.Service)
			case Exited, Stopped:
				failure = fmt.Errorf("dependency %s exited with code %d before it was healthy", d.Service, st.ExitCode)
			default:
				return false
			}
		default: // service_started
			dep.mu.Lock()
			started := dep.started
			dep.mu.Unlock()
			return started
		}
		return true
	})
	if err != nil {
		return err
	}
	return failure
}
