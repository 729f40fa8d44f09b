package check

import "github.com/tandem-dev/tandem"

func (c *checker) services(supported func(*tandem.Service) error) {
	for _, svc := range c.st.Services {
		if supported != nil {
			if err := supported(svc); err != nil {
				c.errorf(c.st.PosOf("services."+svc.Name+".image"), "%v", err)
			}
		}
		for _, dep := range svc.DependsOn {
			if dep.Condition != tandem.ServiceHealthy {
				continue
			}
			// Compose only finds out at `up`, when it refuses to start.
			if d := c.st.Service(dep.Service); d != nil && d.Healthcheck == nil {
				c.errorf(c.st.PosOf("services."+svc.Name+".depends_on."+dep.Service),
					"service %q waits for %q to be healthy, but %q has no healthcheck: docker compose would refuse to start %q", svc.Name, dep.Service, dep.Service, svc.Name)
			}
		}
	}
}
