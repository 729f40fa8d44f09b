package git

import (
	"fmt"
	"strings"
)

// CheckURL refuses a repository URL that git would take for something
// else: an option ("--upload-pack=..." runs a command of the URL's
// choosing), a transport that runs commands (ext::, fd::), or one with
// control characters or surrounding spaces, which no real URL has.
func CheckURL(u string) error {
	switch {
	case u == "":
		return fmt.Errorf("no URL")
	case strings.HasPrefix(u, "-"):
		return fmt.Errorf("%q starts with \"-\": git would read it as an option", u)
	case strings.TrimSpace(u) != u:
		return fmt.Errorf("%q has spaces around it", u)
	case strings.HasPrefix(strings.ToLower(u), "ext::"), strings.HasPrefix(strings.ToLower(u), "fd::"):
		return fmt.Errorf("%q: the %s transport runs commands", u, u[:strings.Index(u, "::")+2])
	}
	for _, r := range u {
		if r < ' ' || r == 0x7f {
			return fmt.Errorf("%q has a control character", u)
		}
	}
	return nil
}
