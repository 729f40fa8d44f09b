package docker

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"io"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/client"
)

// holderImage is tandem's own image for the container that holds an
// instance's network namespace: one static program that waits forever,
// made here, so nothing needs pulling.
const holderImage = "tandem/holder:1"

func isNotFound(err error) bool { return cerrdefs.IsNotFound(err) }

// ensureHolder returns the holder image's name, importing tandem's own the
// first time an engine needs it.
func (r *Runtime) ensureHolder(ctx context.Context) (string, error) {
	if r.HolderImage != "" {
		return r.HolderImage, r.ensureImage(ctx, r.HolderImage, io.Discard)
	}
	r.holder.Lock()
	defer r.holder.Unlock()
	cli, err := r.client()
	if err != nil {
		return "", err
	}
	if _, err := cli.ImageInspect(ctx, holderImage); err == nil {
		return holderImage, nil
	}
	info, err := cli.Info(ctx, client.InfoOptions{})
	if err != nil {
		return "", err
	}
	code, ok := pauseCode[info.Info.Architecture]
	if !ok {
		return "", fmt.Errorf("docker: no holder program for architecture %q: set the holder image (any image with sleep)", info.Info.Architecture)
	}
	var tb bytes.Buffer
	tw := tar.NewWriter(&tb)
	bin := elf(code.machine, code.text)
	tw.WriteHeader(&tar.Header{Name: "pause", Mode: 0o755, Size: int64(len(bin)), Typeflag: tar.TypeReg})
	tw.Write(bin)
	tw.Close()
	rc, err := cli.ImageImport(ctx, client.ImageImportSource{Source: &tb, SourceName: "-"}, holderImage,
		client.ImageImportOptions{Changes: []string{`ENTRYPOINT ["/pause"]`, "LABEL " + labelBuild + "=holder"}})
	if err != nil {
		return "", fmt.Errorf("docker: import the holder image: %w", err)
	}
	defer rc.Close()
	if _, err := io.Copy(io.Discard, rc); err != nil {
		return "", err
	}
	return holderImage, nil
}

// pauseCode is, per engine architecture, a program that waits for signals
// forever: pause(2) in a loop on x86-64, ppoll(2) with nothing to poll on
// arm64 (which has no pause).
var pauseCode = map[string]struct {
	machine uint16
	text    []byte
}{
	"x86_64": {62, []byte{0xb8, 0x22, 0, 0, 0, 0x0f, 0x05, 0xeb, 0xf7}}, // mov eax,34; syscall; jmp back
	"aarch64": {183, le32(
		0xd2800000, 0xd2800001, 0xd2800002, 0xd2800003, // mov x0..x3, #0
		0xd2800928, 0xd4000001, 0x17fffffa, // mov x8, #73 (ppoll); svc #0; b back
	)},
}

func le32(words ...uint32) []byte {
	b := make([]byte, 4*len(words))
	for i, w := range words {
		binary.LittleEndian.PutUint32(b[4*i:], w)
	}
	return b
}

// elf wraps text in the smallest static ELF64 executable: a header, one
// loadable segment, the code right after.
func elf(machine uint16, text []byte) []byte {
	const base, hdr = 0x400000, 64 + 56
	var b bytes.Buffer
	w := func(v any) { binary.Write(&b, binary.LittleEndian, v) }
	b.Write([]byte{0x7f, 'E', 'L', 'F', 2, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0})
	w(uint16(2))          // ET_EXEC
	w(machine)            // e_machine
	w(uint32(1))          // e_version
	w(uint64(base + hdr)) // e_entry
	w(uint64(64))         // e_phoff
	w(uint64(0))          // e_shoff
	w(uint32(0))          // e_flags
	w(uint16(64))         // e_ehsize
	w(uint16(56))         // e_phentsize
	w(uint16(1))          // e_phnum
	w(uint16(0))          // e_shentsize
	w(uint16(0))          // e_shnum
	w(uint16(0))          // e_shstrndx
	w(uint32(1))          // PT_LOAD
	w(uint32(5))          // PF_R|PF_X
	w(uint64(0))          // p_offset
	w(uint64(base))       // p_vaddr
	w(uint64(base))       // p_paddr
	w(uint64(hdr + len(text)))
	w(uint64(hdr + len(text)))
	w(uint64(0x1000)) // p_align
	b.Write(text)
	return b.Bytes()
}
