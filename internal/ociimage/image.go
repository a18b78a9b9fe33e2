package ociimage

import (
	"bytes"
	"fmt"
	"io"
	"strconv"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/partial"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// Options describe one image.
type Options struct {
	// Binary is the path of the static safekeep-controller binary.
	Binary string
	// Version and Commit label the image (org.opencontainers.image.*).
	Version, Commit string
	// Created dates the image and every file in it: SOURCE_DATE_EPOCH.
	Created time.Time
	// Arch is the binary's GOARCH.
	Arch string
	// Source is the repository's URL.
	Source string
}

// Annotations returns the org.opencontainers.image.* annotations, also set
// as the config's labels (where `docker inspect` shows them).
func (o Options) Annotations() map[string]string {
	return map[string]string{
		"org.opencontainers.image.title":       "safekeep-controller",
		"org.opencontainers.image.description": "Safekeep: encrypted, immutable offsite copies of Velero backups, with restore drills and a signed audit log",
		"org.opencontainers.image.version":     o.Version,
		"org.opencontainers.image.revision":    o.Commit,
		"org.opencontainers.image.created":     o.Created.UTC().Format(time.RFC3339),
		"org.opencontainers.image.source":      o.Source,
		"org.opencontainers.image.url":         o.Source,
		"org.opencontainers.image.vendor":      "Safekeep",
	}
}

// Platform is the image's platform.
func (o Options) Platform() *v1.Platform {
	return &v1.Platform{OS: "linux", Architecture: o.Arch}
}

// Build assembles the image from the binary, on no base image.
func Build(o Options) (v1.Image, error) {
	layerTar, err := rootfs(o.Binary, o.Created)
	if err != nil {
		return nil, err
	}
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(layerTar)), nil
	}, tarball.WithMediaType(types.OCILayer))
	if err != nil {
		return nil, fmt.Errorf("layer: %w", err)
	}
	layer = plainLayer{layer}
	base := mutate.ConfigMediaType(mutate.MediaType(empty.Image, types.OCIManifestSchema1), types.OCIConfigJSON)
	created := v1.Time{Time: o.Created.UTC()}
	img, err := mutate.Append(base, mutate.Addendum{
		Layer:   layer,
		History: v1.History{Created: created, CreatedBy: "safekeep hack/image: " + BinaryPath, Comment: "static binary, no base image"},
	})
	if err != nil {
		return nil, fmt.Errorf("append layer: %w", err)
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	cfg = cfg.DeepCopy()
	cfg.Created = created
	cfg.OS, cfg.Architecture = "linux", o.Arch
	user := strconv.Itoa(UID) + ":" + strconv.Itoa(GID)
	cfg.Config = v1.Config{
		User:       user,
		Entrypoint: []string{BinaryPath},
		WorkingDir: "/",
		Env:        []string{"PATH=/usr/local/bin", "HOME=/home/nonroot"},
		Labels:     o.Annotations(),
	}
	img, err = mutate.ConfigFile(img, cfg)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	annotated, ok := mutate.Annotations(img, o.Annotations()).(v1.Image)
	if !ok {
		return nil, fmt.Errorf("annotations: %T is not an image", img)
	}
	return annotated, nil
}

// Index wraps img in an OCI image index naming it ref (the
// org.opencontainers.image.ref.name annotation tools import by).
func Index(img v1.Image, o Options, ref string) v1.ImageIndex {
	idx := mutate.IndexMediaType(empty.Index, types.OCIImageIndex)
	return mutate.AppendManifests(idx, mutate.IndexAddendum{
		Add: img,
		Descriptor: v1.Descriptor{
			Platform:    o.Platform(),
			Annotations: map[string]string{"org.opencontainers.image.ref.name": ref, "io.containerd.image.name": ref},
		},
	})
}

// plainLayer drops the empty annotations map tarball layers carry: in the
// in-memory manifest it differs from the JSON (which omits it), and
// validate.Image refuses the image.
type plainLayer struct{ v1.Layer }

// Descriptor implements partial.withDescriptor.
func (l plainLayer) Descriptor() (*v1.Descriptor, error) {
	d, err := partial.Descriptor(l.Layer)
	if err != nil {
		return nil, err
	}
	if len(d.Annotations) == 0 {
		d.Annotations = nil
	}
	return d, nil
}
