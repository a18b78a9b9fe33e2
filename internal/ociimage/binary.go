// Package ociimage builds safekeep-controller's container image with no
// container engine and no base image: one layer holding the static binary,
// /etc/passwd and /etc/group for the non-root user, and an empty /tmp;
// written as an OCI image layout and as a tarball that `docker load`,
// `ctr import` and `kind load image-archive` accept. Built twice from the
// same binary and SOURCE_DATE_EPOCH, the image has the same digest.
package ociimage

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strings"
)

// VersionPackage is where --version reads the values -ldflags sets.
const VersionPackage = "github.com/safekeep-dev/safekeep/internal/version"

// Binary says how to build the controller for the image.
type Binary struct {
	// Root is the module's root folder.
	Root string
	// Out is the path to write the binary to.
	Out string
	// Version and Commit are what --version prints.
	Version, Commit string
	// GOARCH is the target architecture; empty means the host's.
	GOARCH string
}

// BuildFlags are the go build flags of the image's binary: static (no cgo,
// so no libc and no dynamic loader), reproducible (-trimpath, no build ID
// from the path), with the time zone database inside (-tags timetzdata),
// since the image has no /usr/share/zoneinfo.
func (b Binary) BuildFlags() []string {
	ld := fmt.Sprintf("-s -w -buildid= -X %s.Version=%s -X %s.Commit=%s", VersionPackage, b.Version, VersionPackage, b.Commit)
	return []string{"-trimpath", "-tags", "timetzdata", "-ldflags", ld}
}

// Build runs go build for ./cmd/safekeep-controller.
func (b Binary) Build(ctx context.Context) error {
	arch := b.GOARCH
	if arch == "" {
		arch = runtime.GOARCH
	}
	args := append([]string{"build", "-o", b.Out}, b.BuildFlags()...)
	cmd := exec.CommandContext(ctx, "go", append(args, "./cmd/safekeep-controller")...)
	cmd.Dir = b.Root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+arch)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build safekeep-controller: %w: %s", err, strings.TrimSpace(string(out)))
	}
	return nil
}
