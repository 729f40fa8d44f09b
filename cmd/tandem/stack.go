package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/sirupsen/logrus"
	"github.com/spf13/cobra"

	"github.com/tandem-dev/tandem"
	"github.com/tandem-dev/tandem/compose"
)

// stackFlags are the flags of every command that works on a stack file.
type stackFlags struct {
	files    []string
	profiles []string
	data     string
}

func (f *stackFlags) register(cmd *cobra.Command, withData bool) {
	cmd.Flags().StringArrayVarP(&f.files, "file", "f", nil, "Compose file (repeat to merge several, as docker compose does); default compose.yaml or docker-compose.yml here")
	cmd.Flags().StringArrayVar(&f.profiles, "profile", nil, "enable a Compose profile (repeatable)")
	if withData {
		cmd.Flags().StringVar(&f.data, "data", "", "where tandem keeps databases, logs and state (default .tandem/ beside the Compose file)")
	}
}

// defaultFiles are the names docker compose looks for, in its order.
var defaultFiles = []string{"compose.yaml", "compose.yml", "docker-compose.yaml", "docker-compose.yml"}

// stackFiles returns -f, or the Compose file in the working directory.
func (f *stackFlags) stackFiles() ([]string, error) {
	if len(f.files) > 0 {
		return f.files, nil
	}
	for _, name := range defaultFiles {
		if _, err := os.Stat(name); err == nil {
			return []string{name}, nil
		}
	}
	wd, _ := os.Getwd()
	return nil, tandem.Errorf(tandem.EINVALID, "no Compose file in %s (looked for %v): name one with -f", wd, defaultFiles)
}

// dataDir is --data, or .tandem/ beside the first Compose file.
func (f *stackFlags) dataDir(files []string) (string, error) {
	dir := f.data
	if dir == "" {
		dir = filepath.Join(filepath.Dir(files[0]), ".tandem")
	}
	return filepath.Abs(dir)
}

// socketPath is where a running tandem up answers its control API.
func socketPath(dataDir string) string { return filepath.Join(dataDir, "tandem.sock") }

// loadStack loads the stack with vars, and with the generated values of its
// preview.secrets, kept in the data directory so they stay the same from one
// tandem up to the next.
func loadStack(ctx context.Context, f *stackFlags, files []string, vars tandem.Vars, dataDir string) (*tandem.Stack, error) {
	if names := compose.SecretNames(files); len(names) > 0 && dataDir != "" {
		secrets, err := localSecrets(dataDir, names)
		if err != nil {
			return nil, err
		}
		vars.Secrets = secrets
	}
	return compose.Load(ctx, compose.Options{Files: files, Profiles: f.profiles, Vars: vars})
}

// composeWarnings shows compose-go's warnings (it logs them with logrus) as
// tandem's own.
type composeWarnings struct{}

func (composeWarnings) Format(e *logrus.Entry) ([]byte, error) {
	return []byte("tandem: " + e.Level.String() + ": " + e.Message + "\n"), nil
}

func localSecrets(dataDir string, names []string) (map[string]string, error) {
	path := filepath.Join(dataDir, "secrets.json")
	secrets := map[string]string{}
	if b, err := os.ReadFile(path); err == nil {
		if err := json.Unmarshal(b, &secrets); err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
	}
	changed := false
	for _, n := range names {
		if secrets[n] != "" {
			continue
		}
		b := make([]byte, 32)
		rand.Read(b)
		secrets[n] = base64.RawURLEncoding.EncodeToString(b)
		changed = true
	}
	if changed {
		if err := privateDir(dataDir); err != nil {
			return nil, err
		}
		b, _ := json.MarshalIndent(secrets, "", "  ")
		if err := os.WriteFile(path, b, 0o600); err != nil {
			return nil, err
		}
	}
	// WriteFile sets the mode of a file it creates only: one an older
	// tandem (or an editor) left readable is narrowed.
	if err := os.Chmod(path, 0o600); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	return secrets, nil
}
