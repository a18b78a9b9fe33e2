package restore

import (
	"bufio"
	"crypto/rand"
	"crypto/sha256"
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

// IndexFile, in ResourcesDir, lists every file written with the item it
// holds, one tab-separated line each: file (relative to ResourcesDir),
// resource, namespace ("" when cluster-scoped), name. It is the way back
// from a shortened file name to the full one. kubectl apply -R skips it
// (it reads only .yaml, .yml and .json files).
const IndexFile = "index.tsv"

// maxSegment bounds each file or folder name written. Kubernetes names run
// to 253 characters and CRD resources further; common file systems take
// 255 bytes, and eCryptfs, a common encrypted home folder, only 143.
const maxSegment = 128

// ResourcePath is where WriteResources puts an item, relative to the
// directory: resources/namespaces/<namespace>/<resource>/<name>.yaml, or
// resources/cluster/<resource>/<name>.yaml for cluster-scoped items. A
// resource or name too long for a file name (more than 128 bytes with its
// suffix) is cut, and the first 16 hex digits of its SHA-256 appended, so
// distinct names stay distinct; IndexFile maps files back to full names.
func ResourcePath(it Item) string {
	name := segment(it.Name, yamlSuffix)
	if it.Namespace == "" {
		return path.Join(ResourcesDir, clusterResourcesDir, segment(it.Resource, ""), name)
	}
	return path.Join(ResourcesDir, namespaceResourcesDir, segment(it.Namespace, ""), segment(it.Resource, ""), name)
}

// segment is s+suffix as one file name of at most maxSegment bytes.
func segment(s, suffix string) string {
	if len(s)+len(suffix) <= maxSegment {
		return s + suffix
	}
	sum := sha256.Sum256([]byte(s))
	keep := maxSegment - len(suffix) - 17
	return s[:keep] + "-" + hex.EncodeToString(sum[:8]) + suffix
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
	tmp, n, err := stageResources(root, tarball)
	if err != nil {
		return 0, err
	}
	if err := commitResources(root, tmp, overwrite); err != nil {
		return 0, err
	}
	return n, nil
}

// stageResources writes the tarball's items into a new hidden folder of
// root and returns its name and the number of items. On failure it
// removes the folder.
func stageResources(root *os.Root, tarball string) (string, int, error) {
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", 0, err
	}
	tmp := resourcesTempDirPrefix + hex.EncodeToString(b[:]) + tempSuffix
	if err := root.Mkdir(tmp, 0o700); err != nil {
		return "", 0, err
	}
	n, err := writeItems(root, tarball, tmp)
	if err != nil {
		_ = root.RemoveAll(tmp) // best effort: a hidden leftover is harmless
		return "", 0, err
	}
	return tmp, n, nil
}

// commitResources renames a staged folder to ResourcesDir, replacing an
// existing one when overwrite. On failure it removes the staged folder.
func commitResources(root *os.Root, tmp string, overwrite bool) error {
	var err error
	if overwrite {
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
	}
	return err
}

// writeItems writes the tarball's items and IndexFile under dir (in root)
// and counts the items.
func writeItems(root *os.Root, tarball, dir string) (n int, err error) {
	f, err := root.Open(tarball)
	if err != nil {
		return 0, err
	}
	defer func() { _ = f.Close() }() // read-only: a close error loses nothing
	idx, err := root.OpenFile(path.Join(dir, IndexFile), os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return 0, err
	}
	defer func() {
		if cerr := idx.Close(); err == nil {
			err = cerr
		}
	}()
	index := bufio.NewWriter(idx)
	err = WalkTarball(f, func(it Item) error {
		obj, err := CleanObject(it)
		if err != nil {
			return err
		}
		data, err := yaml.Marshal(obj)
		if err != nil {
			return fmt.Errorf("%s: %w", itemPath(it), err)
		}
		file := ResourcePath(it)[len(ResourcesDir)+1:]
		rel := path.Join(dir, file)
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
		_, err = fmt.Fprintf(index, "%s\t%s\t%s\t%s\n", file, it.Resource, it.Namespace, it.Name)
		return err
	})
	if err != nil {
		return n, err
	}
	return n, index.Flush()
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
