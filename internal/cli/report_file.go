package cli

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// writeFileAtomic writes path through write: into a temporary file in the
// same directory, synced, then renamed over path. A failure (or an
// interrupt) removes the temporary file and leaves path as it was: never
// half written. An existing path is replaced, as `go build -o` and
// `curl -o` do.
func writeFileAtomic(path string, perm os.FileMode, write func(io.Writer) error) (err error) {
	if fi, serr := os.Stat(path); serr == nil && fi.IsDir() {
		return fmt.Errorf("%s is a directory", path)
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			_ = tmp.Close()           // already failing: the write error matters
			_ = os.Remove(tmp.Name()) // best effort: a stray temp file is harmless
		}
	}()
	bw := bufio.NewWriterSize(tmp, 256<<10)
	if err := write(bw); err != nil {
		return err
	}
	if err := errors.Join(bw.Flush(), tmp.Chmod(perm), tmp.Sync()); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return err
	}
	return nil
}
