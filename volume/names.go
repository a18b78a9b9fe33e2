package volume

import (
	"context"
	"encoding/json"
	"fmt"
	"path"
	"strings"
	"unicode/utf8"

	"github.com/kopia/kopia/fs"
	"github.com/kopia/kopia/repo"
	"github.com/kopia/kopia/repo/object"
	"github.com/kopia/kopia/snapshot"
	"github.com/kopia/kopia/snapshot/snapshotfs"
)

// A file name on Linux is any bytes but "/" and NUL; kopia (the fork
// Velero pins) writes a folder's entries as JSON with Go's encoding/json,
// which replaces each byte that is not valid UTF-8 with U+FFFD. So the
// name Velero's repository holds is not the name on the volume, and two
// names that differ only in such bytes become one: the folder lists both
// entries under the same name, and kopia's reader (so Velero's restore)
// keeps only the last, dropping the other's files. Nothing in the
// repository holds the original bytes. Safekeep counts the altered names,
// seals the shadowed entries' data too, and restores them under a name of
// their own (docs/volumes.md, "File names kopia cannot keep").

// ShadowedSuffix is appended, with a number from 1, to the name of an
// entry that a later entry of the same name hides from kopia's reader,
// when RestoreToDir writes it.
const ShadowedSuffix = ".safekeep-shadowed-"

// altered reports whether kopia stored name with a replacement character:
// most likely the name on the volume was not valid UTF-8.
func altered(name string) bool { return strings.ContainsRune(name, utf8.RuneError) }

// shadowedEntry is a folder entry that kopia's reader does not return
// because a later entry of its folder has the same name.
type shadowedEntry struct {
	path  string // slash-separated, relative to the snapshot's root
	nth   int    // 1 for the first entry of its name hidden in its folder
	entry fs.Entry
	// inHidden: its folder is itself hidden (or in one), so path starts
	// with that folder's restoreName.
	inHidden bool
}

// restoreName is where RestoreToDir writes it.
func (s shadowedEntry) restoreName() string {
	return fmt.Sprintf("%s%s%d", s.path, ShadowedSuffix, s.nth)
}

// nameLoss is what kopia's reading of a snapshot's folders changes: the
// names stored altered, and the entries hidden by a same-named one.
type nameLoss struct {
	altered  int64
	shadowed []shadowedEntry
}

// findNameLoss reads every folder under root as kopia stored it (its
// directory object, decoded into kopia's own DirManifest) rather than
// through kopia's reader, which keeps one entry per name. A folder hidden
// by a same-named one is searched too, under the name it is restored as
// (shadowedEntry.restoreName): entries hidden inside it come after it.
func findNameLoss(ctx context.Context, r repo.Repository, root fs.Entry) (nameLoss, error) {
	var out nameLoss
	err := out.folder(ctx, r, root, "", false)
	return out, err
}

func (l *nameLoss) folder(ctx context.Context, r repo.Repository, e fs.Entry, prefix string, inHidden bool) error {
	h, ok := e.(object.HasObjectID)
	if _, dir := e.(fs.Directory); !ok || !dir {
		return nil
	}
	entries, err := rawEntries(ctx, r, h.ObjectID())
	if err != nil {
		return fmt.Errorf("folder %q: %w", prefix, err)
	}
	last := make(map[string]int, len(entries))
	for i, de := range entries {
		last[de.Name] = i
	}
	hidden := make(map[string]int)
	for i, de := range entries {
		if altered(de.Name) {
			l.altered++
		}
		p := path.Join(prefix, de.Name)
		child := snapshotfs.EntryFromDirEntry(r, de)
		if last[de.Name] != i {
			hidden[de.Name]++
			sh := shadowedEntry{path: p, nth: hidden[de.Name], entry: child, inHidden: inHidden}
			l.shadowed = append(l.shadowed, sh)
			// kopia's reader of the hidden folder drops what it hides too.
			if err := l.folder(ctx, r, child, sh.restoreName(), true); err != nil {
				return err
			}
			continue
		}
		if err := l.folder(ctx, r, child, p, inHidden); err != nil {
			return err
		}
	}
	return nil
}

// rawEntries decodes a directory object as kopia wrote it, every entry
// in its order.
func rawEntries(ctx context.Context, r repo.Repository, oid object.ID) ([]*snapshot.DirEntry, error) {
	rd, err := r.OpenObject(ctx, oid)
	if err != nil {
		return nil, err
	}
	defer func() { _ = rd.Close() }() // read-only
	var m snapshot.DirManifest
	if err := json.NewDecoder(rd).Decode(&m); err != nil {
		return nil, fmt.Errorf("directory object %s: %w", oid, err)
	}
	return m.Entries, nil
}

// readShadowed reads in full every regular file of a hidden entry (kopia
// authenticates each content as it reads it) and counts them.
func readShadowed(ctx context.Context, e fs.Entry) (files, bytes int64, err error) {
	var all []namedFile
	switch e := e.(type) {
	case fs.File:
		all = append(all, namedFile{e.Name(), e})
	case fs.Directory:
		if err := walkKopia(ctx, e, "", &all); err != nil {
			return 0, 0, err
		}
	}
	for _, f := range all {
		if !f.file.Mode().IsRegular() {
			continue
		}
		d, err := kopiaFileDigest(ctx, f.file)
		if err != nil {
			return files, bytes, fmt.Errorf("%q: %w", f.path, err)
		}
		files, bytes = files+1, bytes+d.Size
	}
	return files, bytes, nil
}

// checkNames is Level 1's check of what kopia's reader hides: the
// shadowed entries' files are read in full, and the counts compared with
// the manifest's.
func checkNames(ctx context.Context, r repo.Repository, root fs.Entry, rec VolumeRecordNames) (string, error) {
	loss, err := findNameLoss(ctx, r, root)
	if err != nil {
		return "", err
	}
	got := NameLoss{Altered: loss.altered, Shadowed: int64(len(loss.shadowed))}
	for _, sh := range loss.shadowed {
		f, b, err := readShadowed(ctx, sh.entry)
		if err != nil {
			return "", err
		}
		got.ShadowedFiles, got.ShadowedBytes = got.ShadowedFiles+f, got.ShadowedBytes+b
	}
	if got != NameLoss(rec) {
		return fmt.Sprintf("%d altered names, %d shadowed entries of %d files, %d bytes read; the manifest says %d, %d of %d files, %d bytes",
			got.Altered, got.Shadowed, got.ShadowedFiles, got.ShadowedBytes, rec.Altered, rec.Shadowed, rec.ShadowedFiles, rec.ShadowedBytes), nil
	}
	return "", nil
}

// VolumeRecordNames is a manifest volume record's NameLoss.
type VolumeRecordNames NameLoss
