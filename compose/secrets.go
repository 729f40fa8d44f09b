package compose

import (
	"os"
	"syscall"

	"go.yaml.in/yaml/v4"

	"github.com/tandem-dev/tandem"
)

// SecretNames returns the names in x-tandem.preview.secrets of the stack
// files (the last file that names any wins), read without loading the
// stack: the caller needs them to give Load their values, and a first Load
// without them would warn that they are not set. A file that cannot be read
// or parsed is left to Load to report.
func SecretNames(files []string) []string {
	var names []string
	for _, f := range files {
		b, err := readSmall(f)
		if err != nil {
			continue
		}
		var doc struct {
			X struct {
				Preview struct {
					Secrets []string `yaml:"secrets"`
				} `yaml:"preview"`
			} `yaml:"x-tandem"`
		}
		if yaml.Unmarshal(b, &doc) == nil && doc.X.Preview.Secrets != nil {
			names = doc.X.Preview.Secrets
		}
	}
	var valid []string
	for _, n := range names {
		if varName.MatchString(n) && !hasKey(tandem.Vars{}.Env(), n) {
			valid = append(valid, n)
		}
	}
	return valid
}

// readSmall reads a regular file of at most MaxFileSize.
func readSmall(path string) ([]byte, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return readLimited(f, "it", MaxFileSize)
}
