package audit

import (
	"context"
	"fmt"
	"iter"
	"slices"
	"sync"

	"github.com/safekeep-dev/safekeep/storage"
)

// listAhead is how many pages (of up to listPage keys) listEntries lists
// ahead of its consumer.
const (
	listAhead = 3
	listPage  = 1000
)

// listEntries yields, in key order, every object under Dir but the
// segments and the claims: the entry objects, shard by shard, and any
// stray object. It lists Dir one level deep (the shard folders, few), then
// each folder on its own: a server that reads a whole folder for each page
// of a listing (VersityGW's posix backend) then reads about ShardSize
// names a page, not the whole log. A goroutine lists ahead of the
// consumer, so that the server's work overlaps the checking.
func listEntries(ctx context.Context, store storage.Store) iter.Seq2[storage.ObjectInfo, error] {
	return func(yield func(storage.ObjectInfo, error) bool) {
		dirs, strays, err := storage.ListDir(ctx, store, Dir)
		if err != nil {
			yield(storage.ObjectInfo{}, err)
			return
		}
		// None is listed: segments and burn records are listed apart,
		// claims never (as many as the entries).
		dirs = slices.DeleteFunc(dirs, func(d string) bool { return d == SegmentDir || d == ClaimDir || d == BurnDir })
		ctx, cancel := context.WithCancel(ctx)
		var wg sync.WaitGroup
		defer wg.Wait()
		defer cancel()
		pages := make(chan page, listAhead)
		wg.Go(func() { listFolders(ctx, store, dirs, pages) })
		// A stray object sorts before or after all of a folder's keys
		// (it has no "/" after Dir).
		next := 0
		strayBefore := func(bound string) bool {
			for ; next < len(strays) && (bound == "" || strays[next].Key < bound); next++ {
				if !yield(strays[next], nil) {
					return false
				}
			}
			return true
		}
		for _, d := range dirs {
			if !strayBefore(d) {
				return
			}
			for end := false; !end; {
				p, ok := <-pages
				if !ok {
					yield(storage.ObjectInfo{}, fmt.Errorf("list %s: %w", d, context.Cause(ctx)))
					return
				}
				if p.err != nil {
					yield(storage.ObjectInfo{}, p.err)
					return
				}
				for _, info := range p.infos {
					if !yield(info, nil) {
						return
					}
				}
				end = p.end
			}
		}
		strayBefore("")
	}
}

// page is a run of a folder's listing, or the error that ended it.
type page struct {
	infos []storage.ObjectInfo
	err   error
	end   bool // the folder's last page
}

// listFolders lists each of dirs in turn into pages, listPage keys a page,
// and closes pages when done, failed or cancelled.
func listFolders(ctx context.Context, store storage.Store, dirs []string, pages chan<- page) {
	defer close(pages)
	send := func(p page) bool {
		select {
		case pages <- p:
			return true
		case <-ctx.Done():
			return false
		}
	}
	for _, d := range dirs {
		var buf []storage.ObjectInfo
		for info, err := range store.List(ctx, d) {
			if err != nil {
				send(page{err: err})
				return
			}
			if buf = append(buf, info); len(buf) == listPage {
				if !send(page{infos: buf}) {
					return
				}
				buf = nil
			}
		}
		if !send(page{infos: buf, end: true}) {
			return
		}
	}
}

// listSegments lists the segments in order. Objects under SegmentDir that
// are not segments, and segments overlapping an earlier one, come back as
// findings.
func listSegments(ctx context.Context, store storage.Store) ([]segRef, []*item, error) {
	var segs []segRef
	var notes []*item
	var end uint64
	for info, err := range store.List(ctx, SegmentDir) {
		if err != nil {
			return nil, nil, err
		}
		first, last, ok := parseSegmentKey(info.Key)
		switch {
		case !ok:
			notes = append(notes, noteItem(ErrMalformed, 0, info.Key, "not a segment's name (want %s<20 digits>-<20 digits>%s)", SegmentDir, segmentSuffix))
		case first <= end:
			notes = append(notes, noteItem(nil, first, info.Key, "segment %s overlaps an earlier one: not used", info.Key))
		default:
			segs = append(segs, segRef{key: info.Key, first: first, last: last})
			end = last
		}
	}
	return segs, notes, nil
}
