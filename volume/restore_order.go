package volume

import (
	"context"
	"sync"

	"github.com/kopia/kopia/fs"
	"github.com/kopia/kopia/repo"
	"github.com/kopia/kopia/repo/object"
	"github.com/kopia/kopia/snapshot/restore"
)

// packOrderedOutput holds back kopia's restore walk's file writes until
// the walk has found them all, then writes them in pack order (sortByPack)
// with parallel writers. Folders get their modes and times after their
// files, in the walk's order, as kopia gives them.
type packOrderedOutput struct {
	*confinedOutput
	r        repo.DirectRepository
	src      prefetcher
	parallel int

	mu    sync.Mutex
	files []namedFile
	dirs  []finishedDir
}

type finishedDir struct {
	path string
	dir  fs.Directory
}

func (o *packOrderedOutput) WriteFile(_ context.Context, relativePath string, f fs.File, _ restore.FileWriteProgress) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.files = append(o.files, namedFile{path: relativePath, file: f})
	return nil
}

func (o *packOrderedOutput) FinishDirectory(_ context.Context, relativePath string, d fs.Directory) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.dirs = append(o.dirs, finishedDir{path: relativePath, dir: d})
	return nil
}

// Close writes what the walk held back; kopia calls it once, at the end.
func (o *packOrderedOutput) Close(ctx context.Context) error {
	err := readInPackOrder(ctx, o.r, o.src, o.files, func(f namedFile) object.ID { return objectIDOf(f.file) }, o.parallel,
		func(ctx context.Context, f namedFile) error {
			return o.confinedOutput.WriteFile(ctx, f.path, f.file, nil)
		})
	if err != nil {
		return err
	}
	for _, d := range o.dirs {
		if err := o.confinedOutput.FinishDirectory(ctx, d.path, d.dir); err != nil {
			return err
		}
	}
	return o.confinedOutput.Close(ctx)
}
