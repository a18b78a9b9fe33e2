package volume

import (
	iofs "io/fs"
	"os"
	"path/filepath"
	"strings"
)

// LocalDir is a local folder as an fs.FS whose names may be any bytes
// but "/" and NUL, as Linux allows: os.DirFS (and every io/fs.ValidPath
// check) refuses a name that is not valid UTF-8, so a digest walk of a
// restored volume holding one would fail. Paths are slash-separated and
// relative; "." and ".." elements are refused. Symlinks are not followed
// by ReadDir's entries (Lstat), as WalkDir expects.
type LocalDir string

// Open opens name under the folder.
func (d LocalDir) Open(name string) (iofs.File, error) {
	p, err := d.join("open", name)
	if err != nil {
		return nil, err
	}
	return os.Open(p)
}

// ReadDir lists name's entries, sorted by name.
func (d LocalDir) ReadDir(name string) ([]iofs.DirEntry, error) {
	p, err := d.join("readdir", name)
	if err != nil {
		return nil, err
	}
	return os.ReadDir(p)
}

// Stat describes name.
func (d LocalDir) Stat(name string) (iofs.FileInfo, error) {
	p, err := d.join("stat", name)
	if err != nil {
		return nil, err
	}
	return os.Stat(p)
}

func (d LocalDir) join(op, name string) (string, error) {
	if !localPath(name) {
		return "", &iofs.PathError{Op: op, Path: name, Err: iofs.ErrInvalid}
	}
	return filepath.Join(string(d), filepath.FromSlash(name)), nil
}

// localPath is io/fs.ValidPath without its UTF-8 rule: "." or
// slash-separated elements, none empty, "." or "..", and no NUL.
func localPath(name string) bool {
	if name == "." {
		return true
	}
	if strings.IndexByte(name, 0) >= 0 {
		return false
	}
	for elem := range strings.SplitSeq(name, "/") {
		if elem == "" || elem == "." || elem == ".." {
			return false
		}
	}
	return true
}
