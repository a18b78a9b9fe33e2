package ociimage

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// File names Write creates in its folder.
const (
	LayoutDir   = "oci"                           // OCI image layout
	TarballFile = "safekeep-controller.tar"       // for docker load, ctr import, kind load image-archive
	SBOMFile    = "safekeep-controller.spdx.json" // SPDX of the binary
)

// Write writes img as an OCI layout (LayoutDir, holding Index(img)) and a
// tarball (TarballFile) named ref into dir, replacing earlier ones.
func Write(dir string, img v1.Image, o Options, ref string) error {
	tag, err := name.NewTag(ref, name.StrictValidation)
	if err != nil {
		return fmt.Errorf("image name %q: %w", ref, err)
	}
	lp := filepath.Join(dir, LayoutDir)
	if err := os.RemoveAll(lp); err != nil {
		return fmt.Errorf("oci layout: %w", err)
	}
	if _, err := layout.Write(lp, Index(img, o, tag.String())); err != nil {
		return fmt.Errorf("oci layout: %w", err)
	}
	if err := tarball.WriteToFile(filepath.Join(dir, TarballFile), tag, img); err != nil {
		return fmt.Errorf("tarball: %w", err)
	}
	return nil
}
