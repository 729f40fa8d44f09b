package check

import (
	"bufio"
	"bytes"
	"os"
	"regexp"
	"strings"

	"github.com/tandem-dev/tandem"
)

// handOrigin finds an origin built by hand from PREVIEW_HOST: a scheme
// followed by the variable, with or without braces and a default.
var handOrigin = regexp.MustCompile(`(?i)\b(?:https?|wss?)://\$(?:\{PREVIEW_HOST(?:[:?+-][^}]*)?\}|PREVIEW_HOST\b)`)

// origins warns where the stack file writes "https://${PREVIEW_HOST}":
// PREVIEW_HOST is a bare host name, so the origin is right only for a
// preview served over HTTPS on port 443, and wrong under tandem up (plain
// HTTP, a port). The check reads the files' text, because interpolation
// has already replaced the variable in the loaded stack.
func (c *checker) origins() {
	for _, file := range c.st.Files {
		b, err := os.ReadFile(file)
		if err != nil {
			continue // loading read it; a file gone since is not this check's to report
		}
		sc := bufio.NewScanner(bytes.NewReader(b))
		sc.Buffer(make([]byte, 0, 64<<10), len(b)+1)
		for line := 1; sc.Scan(); line++ {
			text := sc.Text()
			if strings.HasPrefix(strings.TrimSpace(text), "#") {
				continue
			}
			for _, m := range handOrigin.FindAllStringIndex(text, -1) {
				found := text[m[0]:m[1]]
				use := "${PREVIEW_URL}" + pathAfter(text[m[1]:])
				c.warnf(tandem.Pos{File: file, Line: line},
					"%q builds an origin from PREVIEW_HOST, a bare host name: it is wrong under tandem up (http://localhost:8080) and for previews on a port of their own; write %q",
					found+pathAfter(text[m[1]:]), use)
			}
		}
	}
}

// pathAfter is the path that follows an origin in a value, up to the end
// of the value: "/api" in "https://${PREVIEW_HOST}/api,api".
func pathAfter(s string) string {
	if !strings.HasPrefix(s, "/") {
		return ""
	}
	if i := strings.IndexAny(s, " \t,;\"'}#"); i >= 0 {
		return s[:i]
	}
	return s
}
