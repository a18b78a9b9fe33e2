package restore

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"

	"sigs.k8s.io/yaml"
)

// ResourcesDir is the folder, inside a --to-dir directory, that holds every
// resource of the backup as YAML (see WriteResources).
const ResourcesDir = "resources"

// Folders under ResourcesDir.
const (
	clusterResourcesDir    = "cluster"
	namespaceResourcesDir  = "namespaces"
	yamlSuffix             = ".yaml"
	resourcesTempDirPrefix = ".resources."
	tempSuffix             = ".safekeep-tmp"
)

// ResourcePath is where WriteResources puts an item, relative to the
// directory: resources/namespaces/<namespace>/<resource>/<name>.yaml, or
// resources/cluster/<resource>/<name>.yaml for cluster-scoped items.
func ResourcePath(it Item) string {
	if it.Namespace == "" {
		return path.Join(ResourcesDir, clusterResourcesDir, it.Resource, it.Name+yamlSuffix)
	}
	return path.Join(ResourcesDir, namespaceResourcesDir, it.Namespace, it.Resource, it.Name+yamlSuffix)
}

// WriteResources writes every item of the Velero backup tarball at
// tarball (a path under root) as a YAML file ready for `kubectl apply`
// (CleanObject) under root's resources/ folder, laid out as ResourcePath
// says, files 0600 and folders 0700. It writes into a hidden temporary
// folder and renames it into place only when every item was written, so
// resources/ is either complete or absent. An existing resources/ is an
// error wrapping ErrFileExists unless overwrite, which replaces it. It
// returns the number of files written.
func WriteResources(root *os.Root, tarball string, overwrite bool) (int, error) {
	if !overwrite {
		if err := absent(root, ResourcesDir); err != nil {
			return 0, err
		}
	}
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		return 0, err
	}
	tmp := resourcesTempDirPrefix + hex.EncodeToString(b[:]) + tempSuffix
	if err := root.Mkdir(tmp, 0o700); err != nil {
		return 0, err
	}
	n, err := writeItems(root, tarball, tmp)
	if err == nil && overwrite {
		err = root.RemoveAll(ResourcesDir)
	}
	if err == nil {
		err = root.Rename(tmp, ResourcesDir)
		if errors.Is(err, fs.ErrExist) {
			err = fmt.Errorf("%w: %s", ErrFileExists, ResourcesDir)
		}
	}
	if err != nil {
		_ = root.RemoveAll(tmp) // best effort: a hidden leftover is harmless
		return 0, err
	}
	return n, nil
}

// writeItems writes the tarball's items under dir (in root) and counts them.
func writeItems(root *os.Root, tarball, dir string) (int, error) {
	f, err := root.Open(tarball)
	if err != nil {
		return 0, err
	}
	defer func() { _ = f.Close() }() // read-only: a close error loses nothing
	n := 0
	err = WalkTarball(f, func(it Item) error {
		obj, err := CleanObject(it)
		if err != nil {
			return err
		}
		data, err := yaml.Marshal(obj)
		if err != nil {
			return fmt.Errorf("%s: %w", itemPath(it), err)
		}
		rel := path.Join(dir, ResourcePath(it)[len(ResourcesDir)+1:])
		if err := root.MkdirAll(path.Dir(rel), 0o700); err != nil {
			return err
		}
		out, err := root.OpenFile(rel, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil {
			return fmt.Errorf("%s: %w", itemPath(it), err)
		}
		_, err = out.Write(data)
		if cerr := out.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return err
		}
		n++
		return nil
	})
	return n, err
}

// absent fails with ErrFileExists when name exists in root.
func absent(root *os.Root, name string) error {
	_, err := root.Lstat(name)
	switch {
	case err == nil:
		return fmt.Errorf("%w: %s", ErrFileExists, name)
	case !errors.Is(err, fs.ErrNotExist):
		return err
	}
	return nil
}
