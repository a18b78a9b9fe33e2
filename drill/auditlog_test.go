package drill

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/safekeep-dev/safekeep/audit"
)

// What a check says goes into the plaintext log only when it names
// nothing; the failed objects go as digests.
func TestForLog(t *testing.T) {
	const secret = "patient-jane-doe"
	for _, tc := range []struct {
		in   audit.CheckResult
		keep bool
	}{
		{audit.CheckResult{Name: CheckSeal, Message: "1 object(s) failed; first: sealed object is missing: backups/x/" + secret, Objects: []string{secret}}, false},
		{audit.CheckResult{Name: CheckSeal, Passed: true, Message: "signed by k; 5 objects"}, true},
		{audit.CheckResult{Name: CheckPresence, Message: "1 of 9 namespaced items are missing", Objects: []string{"v1/ConfigMap phi/" + secret}}, false},
		{audit.CheckResult{Name: CheckRestore, Passed: true, Message: "Restore r Completed: warning on v1/Secret phi/" + secret}, false},
		{audit.CheckResult{Name: CheckVolumes, Message: "1 of 2 volumes failed (phi/" + secret + "/data)"}, false},
		{audit.CheckResult{Name: CheckJob, Message: "Job s/j refused: " + secret}, false},
		{audit.CheckResult{Name: CheckRTO, Message: "RTO 2s exceeds the objective of 1s"}, true},
		{audit.CheckResult{Name: CheckVolumeFiles, Passed: true, Message: "3 files, 10 bytes in 1 volume restored by Velero match the snapshots (sha256:ab)"}, true},
		{audit.CheckResult{Name: CheckContent, Message: "not run: the restore failed"}, true},
		{audit.CheckResult{Name: "future-check", Passed: true, Message: secret}, false},
	} {
		got := ForLog(tc.in)
		data, err := json.Marshal(got)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(data), secret) {
			t.Errorf("%s: the log entry names %q: %s", tc.in.Name, secret, data)
		}
		if kept := got.Message == tc.in.Message; kept != tc.keep {
			t.Errorf("%s %q: kept %v, want %v", tc.in.Name, tc.in.Message, kept, tc.keep)
		}
		if got.FailedObjects != len(tc.in.Objects) || len(got.Objects) != 0 {
			t.Errorf("%s: objects %v / %d, want none and a count of %d", tc.in.Name, got.Objects, got.FailedObjects, len(tc.in.Objects))
		}
	}
}
