package restore

import (
	"archive/tar"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"path"
	"slices"
	"strings"
)

// ErrBadTarball: a Velero backup tarball is not a gzip-compressed tar
// archive, or an entry under resources/ is malformed.
var ErrBadTarball = errors.New("malformed backup tarball")

// MaxItemSize bounds one item of a backup tarball. Kubernetes keeps
// objects under 1.5 MiB in etcd; a larger entry is not an object.
const MaxItemSize = 16 << 20

// Layout of a Velero backup tarball (<backup>.tar.gz).
const (
	resourcesDir  = "resources"
	namespacesDir = "namespaces"
	clusterDir    = "cluster"
	jsonSuffix    = ".json"
)

// Item is one resource in a Velero backup tarball.
type Item struct {
	// Resource is Velero's folder name for the resource: the plural,
	// then "." and the API group unless it is the core group
	// ("configmaps", "deployments.apps").
	Resource string
	// Namespace is empty for cluster-scoped items.
	Namespace string
	Name      string
	// JSON is the object as Velero wrote it.
	JSON []byte
}

// Group returns the item's API group ("" for the core group).
func (it Item) Group() string {
	_, group, _ := strings.Cut(it.Resource, ".")
	return group
}

// WalkTarball reads a Velero backup tarball (gzip-compressed tar) as it
// streams and calls fn, in archive order, for every item Velero restores
// from: resources/<resource>/namespaces/<namespace>/<name>.json and
// resources/<resource>/cluster/<name>.json. The copies Velero keeps per
// API version (resources/<resource>/<version>[-preferredversion]/...) and
// every other entry are skipped. An error from fn stops the walk and is
// returned as is; a malformed archive or entry is an error wrapping
// ErrBadTarball. WalkTarball reads r to the end of the archive only.
func WalkTarball(r io.Reader, fn func(Item) error) error {
	zr, err := gzip.NewReader(r)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrBadTarball, err)
	}
	defer func() { _ = zr.Close() }() // reading: nothing to flush
	tr := tar.NewReader(zr)
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("%w: %w", ErrBadTarball, err)
		}
		if hdr.Typeflag != tar.TypeReg {
			continue
		}
		it, ok, err := parseItemPath(hdr.Name)
		if err != nil {
			return fmt.Errorf("%w: %w", ErrBadTarball, err)
		}
		if !ok {
			continue
		}
		if hdr.Size > MaxItemSize {
			return fmt.Errorf("%w: %s is %d bytes, more than %d", ErrBadTarball, hdr.Name, hdr.Size, MaxItemSize)
		}
		it.JSON, err = io.ReadAll(io.LimitReader(tr, MaxItemSize+1))
		if err != nil {
			return fmt.Errorf("%w: %s: %w", ErrBadTarball, hdr.Name, err)
		}
		if err := fn(it); err != nil {
			return err
		}
	}
}

// parseItemPath recognizes the paths of the items Velero restores from. It
// returns false for any other path, and an error for a path under
// resources/ that is unsafe (absolute, "..", empty elements).
func parseItemPath(name string) (Item, bool, error) {
	clean := strings.TrimPrefix(name, "./")
	// No Velero archive has an absolute or climbing entry: such an
	// archive is refused, not walked with the entry skipped.
	if path.IsAbs(clean) || slices.Contains(strings.Split(clean, "/"), "..") {
		return Item{}, false, fmt.Errorf("unsafe entry %q", name)
	}
	if !strings.HasPrefix(clean, resourcesDir+"/") {
		return Item{}, false, nil
	}
	if path.Clean(clean) != clean || strings.Contains(clean, "\\") {
		return Item{}, false, fmt.Errorf("unsafe entry %q", name)
	}
	parts := strings.Split(clean, "/")
	for _, p := range parts {
		if p == "" || p == "." || p == ".." {
			return Item{}, false, fmt.Errorf("unsafe entry %q", name)
		}
	}
	// resources/<resource>/cluster/<name>.json
	// resources/<resource>/namespaces/<ns>/<name>.json
	var it Item
	var file string
	switch {
	case len(parts) == 4 && parts[2] == clusterDir:
		it.Resource, file = parts[1], parts[3]
	case len(parts) == 5 && parts[2] == namespacesDir:
		it.Resource, it.Namespace, file = parts[1], parts[3], parts[4]
	default:
		return Item{}, false, nil
	}
	n, ok := strings.CutSuffix(file, jsonSuffix)
	if !ok || n == "" {
		return Item{}, false, nil
	}
	it.Name = n
	return it, true, nil
}
