package docker

import (
	"archive/tar"
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"

	"github.com/moby/moby/client"

	"github.com/tandem-dev/tandem"
	"github.com/tandem-dev/tandem/build"
	"github.com/tandem-dev/tandem/internal/tail"
)

// image is the image svc runs: built from its context when Compose says
// build:, else its image:, pulled if the engine lacks it.
func (s *Sandbox) image(ctx context.Context, svc *tandem.Service, out io.Writer) (string, error) {
	if svc.DockerBuild != nil && svc.Context != "" {
		if s.tree != "" {
			if _, err := s.inTree(svc.Name, svc.Context); err != nil {
				return "", err
			}
		}
		return s.rt.build(ctx, svc, out)
	}
	if svc.Image == "" {
		return "", tandem.Errorf(tandem.EINVALID, "service %s has neither an image nor a build context", svc.Name)
	}
	return svc.Image, s.rt.ensureImage(ctx, svc.Image, out)
}

// buildKey names a build by what produced it, as tandem's other builds:
// the digest of the context's inputs (what git tracks or would track),
// the Dockerfile, its arguments and target.
func buildKey(svc *tandem.Service, files []string) (string, error) {
	digest, err := build.Digest(svc.Context, files)
	if err != nil {
		return "", err
	}
	b := svc.DockerBuild
	h := sha256.New()
	fmt.Fprintf(h, "inputs %s\ndockerfile %q\ninline %q\ntarget %q\n", digest, b.Dockerfile, b.Inline, b.Target)
	keys := make([]string, 0, len(b.Args))
	for k := range b.Args {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		fmt.Fprintf(h, "arg %q=%q\n", k, b.Args[k])
	}
	return hex.EncodeToString(h.Sum(nil))[:24], nil
}

// inlineDockerfile is where dockerfile_inline goes in the context sent.
const inlineDockerfile = ".tandem-dockerfile-inline"

// build builds svc's image with the engine, once per key: an image tagged
// with the key is the build's cache.
func (r *Runtime) build(ctx context.Context, svc *tandem.Service, out io.Writer) (string, error) {
	files, err := build.Inputs(svc.Context)
	if err != nil {
		return "", fmt.Errorf("docker: inputs of %s: %w", svc.Context, err)
	}
	dockerfile := svc.DockerBuild.Dockerfile
	if dockerfile == "" {
		dockerfile = "Dockerfile"
	}
	if svc.DockerBuild.Inline != "" {
		dockerfile = inlineDockerfile
	} else if !contains(files, filepath.ToSlash(dockerfile)) {
		files = append(files, filepath.ToSlash(dockerfile))
	}
	key, err := buildKey(svc, files)
	if err != nil {
		return "", err
	}
	tag := "tandem/build-" + strings.ToLower(nameSafe(svc.Name)) + ":" + key
	mu, _ := r.builds.LoadOrStore(key, &sync.Mutex{})
	mu.(*sync.Mutex).Lock()
	defer mu.(*sync.Mutex).Unlock()
	cli, err := r.client()
	if err != nil {
		return "", err
	}
	if _, err := cli.ImageInspect(ctx, tag); err == nil {
		return tag, nil
	}
	fmt.Fprintf(out, "tandem: building %s from %s\n", svc.Name, svc.Context)
	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(writeContext(pw, svc.Context, files, svc.DockerBuild.Inline)) }()
	args := map[string]*string{}
	for k, v := range svc.DockerBuild.Args {
		args[k] = &v
	}
	res, err := cli.ImageBuild(ctx, pr, client.ImageBuildOptions{
		Tags: []string{tag}, Dockerfile: dockerfile, BuildArgs: args, Target: svc.DockerBuild.Target,
		Labels: map[string]string{labelBuild: key}, Remove: true, ForceRemove: true,
	})
	if err != nil {
		pr.CloseWithError(err)
		return "", tandem.Errorf(tandem.EINVALID, "service %s: build: %w", svc.Name, err)
	}
	defer res.Body.Close()
	if err := buildOutput(res.Body, out); err != nil {
		return "", tandem.Errorf(tandem.EINVALID, "service %s: build: %w", svc.Name, err)
	}
	return tag, nil
}

// buildOutput copies the engine's build messages to out and returns the
// build's error, with the lines before it.
func buildOutput(body io.Reader, out io.Writer) error {
	last := &tail.Writer{}
	w := io.MultiWriter(out, last)
	sc := bufio.NewScanner(body)
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	for sc.Scan() {
		var m struct {
			Stream string `json:"stream"`
			Error  string `json:"error"`
		}
		if json.Unmarshal(sc.Bytes(), &m) != nil {
			continue
		}
		if m.Error != "" {
			return fmt.Errorf("%s\n%s", strings.TrimSpace(m.Error), last.Lines(10))
		}
		io.WriteString(w, m.Stream)
	}
	return sc.Err()
}

// writeContext writes the build context as a tar stream: the input files,
// and the inline Dockerfile if there is one. Only regular files, links and
// the directories between them: nothing else of the host.
func writeContext(w io.Writer, dir string, files []string, inline string) error {
	tw := tar.NewWriter(w)
	for _, f := range files {
		p := filepath.Join(dir, filepath.FromSlash(f))
		fi, err := os.Lstat(p)
		if os.IsNotExist(err) {
			continue
		}
		if err != nil {
			return err
		}
		link := ""
		switch {
		case fi.Mode().IsRegular():
		case fi.Mode()&os.ModeSymlink != 0:
			if link, err = os.Readlink(p); err != nil {
				return err
			}
		default:
			continue
		}
		hdr, err := tar.FileInfoHeader(fi, link)
		if err != nil {
			return err
		}
		hdr.Name, hdr.Uid, hdr.Gid, hdr.Uname, hdr.Gname = f, 0, 0, "", ""
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		if fi.Mode().IsRegular() {
			if err := copyFile(tw, p); err != nil {
				return err
			}
		}
	}
	if inline != "" {
		tw.WriteHeader(&tar.Header{Name: inlineDockerfile, Mode: 0o644, Size: int64(len(inline)), Typeflag: tar.TypeReg})
		io.WriteString(tw, inline)
	}
	return tw.Close()
}

func copyFile(w io.Writer, p string) error {
	f, err := os.Open(p)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = io.Copy(w, f)
	return err
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
