package check

// dockerfiles warns, at their lines, about the instructions of the
// Dockerfiles tandem reads that the process runtime does not honour: a RUN
// matters to any service run from its context, but only a service with no
// command reads its Dockerfile, and one with a command is not told about
// a file it does not use.
func (c *checker) dockerfiles() {
	for _, svc := range c.st.Services {
		if svc.Dockerfile == "" {
			continue
		}
		for _, p := range svc.Unhonoured {
			c.warnf(p.Pos, "service %q: %s", svc.Name, p.Message)
		}
	}
}
