package build

// disown: there are no sandboxes with mapped owners on Windows (the process
// runtime is Linux's), so the cache's files keep their owner.
func disown(string) error { return nil }
