package seal

import (
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/safekeep-dev/safekeep/storage"
)

// sourceObject is one object of a Velero backup in its storage location.
type sourceObject struct {
	Name string // relative to backups/<backup>/
	Key  string // relative to the location's prefix
	Size int64
}

// listSource lists every object of a Velero backup, sorted by name, and
// checks the names.
func listSource(ctx context.Context, src storage.Store, backup string) ([]sourceObject, error) {
	prefix := SourcePrefix(backup)
	var out []sourceObject
	for info, err := range src.List(ctx, prefix) {
		if err != nil {
			return nil, err
		}
		name := strings.TrimPrefix(info.Key, prefix)
		if err := ValidateObjectName(name); err != nil {
			return nil, fmt.Errorf("backup %s: %w", backup, err)
		}
		out = append(out, sourceObject{Name: name, Key: info.Key, Size: info.Size})
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%w: nothing under %s in %s", ErrNoObjects, prefix, src)
	}
	return out, nil // List yields key order, so names are sorted
}

// readVeleroInfo reads and checks the backup's velero-backup.json.
func readVeleroInfo(ctx context.Context, src storage.Store, backup string) (*VeleroInfo, error) {
	key := SourcePrefix(backup) + VeleroBackupJSON
	data, err := getSmall(ctx, src, key, maxVeleroJSON)
	if errors.Is(err, storage.ErrNotFound) {
		return nil, fmt.Errorf("%w: backup %s has no %s", ErrNotVeleroBackup, backup, VeleroBackupJSON)
	}
	if err != nil {
		return nil, err
	}
	return parseVeleroBackup(data, backup)
}

// readResourceList reads <backup>-resource-list.json.gz, Velero's list of
// the backup's items, or returns nil when the backup has none.
func readResourceList(ctx context.Context, src storage.Store, objects []sourceObject, backup string) (map[string][]string, error) {
	name := ResourceListName(backup)
	var key string
	for _, o := range objects {
		if o.Name == name {
			key = o.Key
		}
	}
	if key == "" {
		return nil, nil
	}
	rc, _, err := src.Get(ctx, key)
	if err != nil {
		return nil, err
	}
	defer func() { _ = rc.Close() }() // read-only: a close error loses nothing
	zr, err := gzip.NewReader(rc)
	if err != nil {
		return nil, fmt.Errorf("resource list %s: %w", key, err)
	}
	var list map[string][]string
	if err := json.NewDecoder(zr).Decode(&list); err != nil {
		return nil, fmt.Errorf("resource list %s: %w", key, err)
	}
	for kind, items := range list {
		if items == nil {
			list[kind] = []string{}
		}
	}
	return list, nil
}
