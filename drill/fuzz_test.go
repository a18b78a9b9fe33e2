package drill

import (
	"bytes"
	"compress/gzip"
	"testing"
	"time"
)

// FuzzTarballParser feeds the drill's streaming tarball parser (it reads a
// decrypted object of the bucket): it never panics or hangs, and a
// malformed tarball leaves no facts but its error.
func FuzzTarballParser(f *testing.F) {
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	_, _ = zw.Write([]byte("not a tar")) // a bytes.Buffer never fails
	_ = zw.Close()
	f.Add(gz.Bytes())
	f.Add([]byte{0x1f, 0x8b, 0x08})
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		p := startTarballParser()
		if _, err := p.Write(data); err != nil {
			t.Fatalf("write: %v: the parser must read to the end", err)
		}
		facts := p.finish(nil)
		if facts == nil {
			t.Fatal("finish returned no facts")
		}
	})
}

// FuzzStagedBackupJSON feeds the rewrite of a sealed velero-backup.json
// (a decrypted object of the bucket) for the staged copy: it never panics,
// and what it accepts decodes as a Backup that names only the staged copy
// and the staging location.
func FuzzStagedBackupJSON(f *testing.F) {
	f.Add([]byte(`{"kind":"Backup","metadata":{"name":"b1"},"spec":{"storageLocation":"default"},"status":{"phase":"Completed"}}`))
	f.Add([]byte(`{"kind":"Backup","spec":null,"status":{"phase":"Failed"}}`))
	f.Add([]byte(`{"kind":"Backup","spec":[],"status":{"phase":"Completed","expiration":7}}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, data []byte) {
		r := &runner{now: func() time.Time { return time.Date(2025, 3, 1, 2, 0, 0, 0, time.UTC) }, opts: Options{
			Schedule: "nightly", Backup: "b1", StagedName: "drill-x-1", StagingLocation: "staging", VeleroNamespace: "velero", RestoreTimeout: time.Hour,
		}}
		out, err := r.stagedBackupJSON(data)
		if err != nil {
			return
		}
		b, err := decodeBackup(out)
		if err != nil {
			return // valid JSON Velero's types cannot hold (a field of another type): the drill fails on it, as Velero would
		}
		if b.Name != "drill-x-1" || b.Namespace != "velero" || b.Spec.StorageLocation != "staging" {
			t.Fatalf("staged Backup %s/%s at %s, want velero/drill-x-1 at staging", b.Namespace, b.Name, b.Spec.StorageLocation)
		}
	})
}
