package drill

import (
	"strings"
	"testing"

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

	st := VolumesStatus([]volume.Verified{ok, bad})
	if len(st) != 2 || st[0].Passed || st[0].Pod != "scanner-0" || !strings.Contains(st[0].Message, "p1.age") || !st[1].Passed || st[1].Files != 3 {
		t.Errorf("status %+v, want the failed volume first", st)
	}
	au := AuditVolumes(st)
	if len(au) != 2 || au[0].Passed || au[1].Files != 3 || au[1].Bytes != 1<<20 || len(au[0].Volume) != len("sha256:")+64 || au[0].Volume == au[1].Volume {
		t.Errorf("audit %+v", au)
	}
	many := make([]volume.Verified, MaxVolumesRecorded+5)
	if n := len(VolumesStatus(many)); n != MaxVolumesRecorded {
		t.Errorf("status keeps %d volumes, want %d", n, MaxVolumesRecorded)
	}
}
