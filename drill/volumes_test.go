package drill

import (
	"strings"
	"testing"

	"github.com/safekeep-dev/safekeep/api/v1alpha1"
	"github.com/safekeep-dev/safekeep/audit"
	"github.com/safekeep-dev/safekeep/seal"
	"github.com/safekeep-dev/safekeep/volume"
)

func TestVolumesCheck(t *testing.T) {
	ok := volume.Verified{Volume: seal.VolumeRecord{Namespace: "phi-app", Pod: "db-0", Volume: "data"}, Files: 3, Bytes: 1 << 20}
	bad := volume.Verified{Volume: seal.VolumeRecord{Namespace: "phi-app", Pod: "scanner-0", Volume: "cache"},
		Findings: []volume.Finding{{Kind: volume.FindingDamaged, Object: "volumes/x/blobs/p1.age", Message: "is missing"}}}

	c := VolumesCheck([]volume.Verified{ok})
	if !c.Passed || c.Name != CheckVolumes || !strings.Contains(c.Message, "3 files, 1048576 bytes verified") || len(c.Objects) != 0 {
		t.Errorf("passing check %+v", c)
	}
	c = VolumesCheck([]volume.Verified{ok, bad})
	if c.Passed || !strings.Contains(c.Message, "1 of 2 volumes failed (damaged)") {
		t.Errorf("failing check %+v", c)
	}
	// The message goes into the audit entry: no volume or blob name.
	for _, name := range []string{"phi-app", "scanner-0", "blobs/"} {
		if strings.Contains(c.Message, name) {
			t.Errorf("message %q names %s", c.Message, name)
		}
	}
	if len(c.Objects) != 1 || !strings.Contains(c.Objects[0], "phi-app/scanner-0/cache") || !strings.Contains(c.Objects[0], "volumes/x/blobs/p1.age") {
		t.Errorf("objects %v, want the failed volume and its blob", c.Objects)
	}

	st := VolumesStatus([]volume.Verified{ok, bad}, nil)
	if len(st) != 2 || st[0].Passed || st[0].Pod != "scanner-0" || !strings.Contains(st[0].Message, "p1.age") || !st[1].Passed || st[1].Files != 3 {
		t.Errorf("status %+v, want the failed volume first", st)
	}
	au := AuditVolumes(st)
	if len(au) != 2 || au[0].Passed || au[1].Files != 3 || au[1].Bytes != 1<<20 || len(au[0].Volume) != len("sha256:")+64 || au[0].Volume == au[1].Volume {
		t.Errorf("audit %+v", au)
	}
	many := make([]volume.Verified, MaxVolumesRecorded+5)
	if n := len(VolumesStatus(many, nil)); n != MaxVolumesRecorded {
		t.Errorf("status keeps %d volumes, want %d", n, MaxVolumesRecorded)
	}
}

// TestVolumesStatusRestored: Level 2 results join the Level 1 entry of
// their volume, or make one when Level 1 was skipped; a volume that
// differs fails and comes first.
func TestVolumesStatusRestored(t *testing.T) {
	db := seal.VolumeRecord{Namespace: "phi-app", Pod: "db-0", Volume: "data"}
	scans := seal.VolumeRecord{Namespace: "phi-app", Pod: "scanner-0", Volume: "scans"}
	l1 := []volume.Verified{{Volume: db, Files: 3, Bytes: 30}, {Volume: scans, Files: 2, Bytes: 20}}
	l2 := []RestoredVolume{
		{Volume: db, Files: 3, Bytes: 30, MatchedFiles: 3, MatchedBytes: 30},
		{Volume: scans, Files: 2, Bytes: 20, MatchedFiles: 1, MatchedBytes: 5, Differ: 1, Reason: VolumeDiffers, Message: "0 files missing, 1 differing, 0 not in the snapshot"},
	}
	st := VolumesStatus(l1, l2)
	if len(st) != 2 || st[0].Pod != "scanner-0" || st[0].Passed || st[0].Files != 2 || st[0].Restored == nil ||
		st[0].Restored.Passed || st[0].Restored.Reason != VolumeDiffers || st[0].Restored.MatchedFiles != 1 {
		t.Errorf("status %+v, want the differing volume first with its Level 2 counts", st)
	}
	if r := st[1].Restored; !st[1].Passed || r == nil || !r.Passed || r.Files != 3 || r.MatchedBytes != 30 {
		t.Errorf("status of the matching volume %+v", st[1])
	}
	only := VolumesStatus(nil, l2[:1])
	if len(only) != 1 || !only[0].Passed || only[0].Files != 0 || only[0].Restored == nil || only[0].Restored.MatchedFiles != 3 ||
		only[0].NotVerified != v1alpha1.VolumeNotVerifiedSkipped {
		t.Errorf("Level 2 alone: %+v, want it marked not verified (%s)", only, v1alpha1.VolumeNotVerifiedSkipped)
	}
	if st[0].NotVerified != "" || st[1].NotVerified != "" {
		t.Errorf("volumes Level 1 read marked not verified: %+v", st)
	}
	// The audit entry carries the mark, in the entry's own words.
	if au := AuditVolumes(only); len(au) != 1 || au[0].NotVerified != audit.VolumeNotVerifiedSkipped || au[0].Restored == nil {
		t.Errorf("audit of Level 2 alone: %+v", au)
	}
	if v1alpha1.VolumeNotVerifiedSkipped != audit.VolumeNotVerifiedSkipped {
		t.Errorf("the API's reason %q is not the audit entry's %q", v1alpha1.VolumeNotVerifiedSkipped, audit.VolumeNotVerifiedSkipped)
	}
}
