package storage

import (
	"context"
	"io"
	"iter"
	"slices"
	"strings"
)

// Pinned returns a view of s where each pinned version's key reads (Get,
// Stat, List, ListDir) as that version, in place of the current one if
// any: a reader that checked a version under a delete marker (or under an
// overwrite) against a digest it trusts uses it as if it were current.
// Writes go to s. With no pins it returns s.
func Pinned(s Store, pins []Version) Store {
	if len(pins) == 0 {
		return s
	}
	p := &pinnedStore{Store: s, pins: make(map[string]Version, len(pins))}
	for _, v := range pins {
		p.pins[v.Key] = v
	}
	return p
}

type pinnedStore struct {
	Store
	pins map[string]Version
}

var _ DirLister = (*pinnedStore)(nil)

func (p *pinnedStore) Get(ctx context.Context, key string) (io.ReadCloser, ObjectInfo, error) {
	if v, ok := p.pins[key]; ok {
		return p.GetVersion(ctx, key, v.VersionID)
	}
	return p.Store.Get(ctx, key)
}

func (p *pinnedStore) Stat(ctx context.Context, key string) (ObjectInfo, error) {
	if v, ok := p.pins[key]; ok {
		return v.ObjectInfo, nil
	}
	return p.Store.Stat(ctx, key)
}

// under returns the pinned objects under prefix, sorted by key.
func (p *pinnedStore) under(prefix string) []ObjectInfo {
	var out []ObjectInfo
	for k, v := range p.pins {
		if strings.HasPrefix(k, prefix) {
			out = append(out, v.ObjectInfo)
		}
	}
	slices.SortFunc(out, func(a, b ObjectInfo) int { return strings.Compare(a.Key, b.Key) })
	return out
}

// List merges the pinned keys under prefix into s's listing.
func (p *pinnedStore) List(ctx context.Context, prefix string) iter.Seq2[ObjectInfo, error] {
	return func(yield func(ObjectInfo, error) bool) {
		extra := p.under(prefix)
		for info, err := range p.Store.List(ctx, prefix) {
			if err != nil {
				yield(info, err)
				return
			}
			if _, pinned := p.pins[info.Key]; pinned {
				continue // an overwrite: the pinned version stands for it
			}
			for len(extra) > 0 && extra[0].Key < info.Key {
				if !yield(extra[0], nil) {
					return
				}
				extra = extra[1:]
			}
			if !yield(info, nil) {
				return
			}
		}
		for _, e := range extra {
			if !yield(e, nil) {
				return
			}
		}
	}
}

// ListDir merges the pinned keys directly under prefix, and the folders
// of deeper ones, into s's one-level listing.
func (p *pinnedStore) ListDir(ctx context.Context, prefix string) ([]string, []ObjectInfo, error) {
	dirs, objects, err := ListDir(ctx, p.Store, prefix)
	if err != nil {
		return nil, nil, err
	}
	objects = slices.DeleteFunc(objects, func(o ObjectInfo) bool { _, pinned := p.pins[o.Key]; return pinned })
	for _, info := range p.under(prefix) {
		if i := strings.IndexByte(info.Key[len(prefix):], '/'); i >= 0 {
			dirs = append(dirs, prefix+info.Key[len(prefix):][:i+1])
			continue
		}
		objects = append(objects, info)
	}
	slices.Sort(dirs)
	dirs = slices.Compact(dirs)
	slices.SortFunc(objects, func(a, b ObjectInfo) int { return strings.Compare(a.Key, b.Key) })
	return dirs, objects, nil
}
