package check

// paths reports the paths of the stack that lead outside its repository
// (after .. and symbolic links): loading allows them on the user's own
// machine, as docker compose does (a Compose file in an infrastructure
// repository that builds ../api), but tandem serve refuses such a stack
// from a pull request. Loading decides which they are; here they are
// shown with the rest.
func (c *checker) paths() {
	c.problems = append(c.problems, c.st.Warnings...)
}
