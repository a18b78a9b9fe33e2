// Command image builds safekeep-controller's container image with no
// container engine (`make image`): the static binary, then the image as an
// OCI layout and a tarball, and its SPDX SBOM, into -o. See package
// internal/ociimage and docs/install.md.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"strconv"
	"time"

	"github.com/safekeep-dev/safekeep/internal/ociimage"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintf(os.Stderr, "image: %v\n", err)
		os.Exit(1)
	}
}

func run() error {
	out := flag.String("o", "_out/image", "folder to write the image, tarball and SBOM to")
	version := flag.String("version", "v0.0.0-dev", "version: the image's tag and what --version prints")
	commit := flag.String("commit", "unknown", "commit the image is built from")
	repo := flag.String("repository", "ghcr.io/safekeep-dev/safekeep-controller", "image repository")
	arch := flag.String("arch", runtime.GOARCH, "GOARCH of the image")
	flag.Parse()
	created, err := sourceDate()
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := os.MkdirAll(*out, 0o755); err != nil {
		return err
	}
	abs, err := filepath.Abs(*out)
	if err != nil {
		return err
	}
	bin := filepath.Join(abs, "safekeep-controller-linux-"+*arch)
	b := ociimage.Binary{Root: ".", Out: bin, Version: *version, Commit: *commit, GOARCH: *arch}
	if err := b.Build(ctx); err != nil {
		return err
	}
	o := ociimage.Options{Binary: bin, Version: *version, Commit: *commit, Created: created, Arch: *arch,
		Source: "https://github.com/safekeep-dev/safekeep"}
	img, err := ociimage.Build(o)
	if err != nil {
		return err
	}
	ref := *repo + ":" + *version
	if err := ociimage.Write(abs, img, o, ref); err != nil {
		return err
	}
	if err := ociimage.WriteSBOM(abs, o); err != nil {
		return err
	}
	digest, err := img.Digest()
	if err != nil {
		return err
	}
	fmt.Printf("%s@%s\n  OCI layout: %s\n  tarball:    %s\n  SBOM:       %s\n", ref, digest,
		filepath.Join(*out, ociimage.LayoutDir), filepath.Join(*out, ociimage.TarballFile), filepath.Join(*out, ociimage.SBOMFile))
	return nil
}

// sourceDate reads SOURCE_DATE_EPOCH (https://reproducible-builds.org/specs/source-date-epoch/),
// defaulting to the Unix epoch so that builds are reproducible either way.
func sourceDate() (time.Time, error) {
	s := os.Getenv("SOURCE_DATE_EPOCH")
	if s == "" {
		return time.Unix(0, 0).UTC(), nil
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return time.Time{}, fmt.Errorf("SOURCE_DATE_EPOCH=%q: not a number of seconds", s)
	}
	return time.Unix(n, 0).UTC(), nil
}
