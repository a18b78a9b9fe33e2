package audit_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/safekeep-dev/safekeep/audit"
)

// A check's object names go into the log as their count and digests.
func TestCheckResultWithoutNames(t *testing.T) {
	names := []string{"v1/ConfigMap phi-app/patient-jane-doe", "v1/Secret phi-app/db"}
	c := audit.CheckResult{Name: "presence", Message: "2 of 9 namespaced items are missing", Objects: names}.WithoutNames()
	data, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	if c.FailedObjects != 2 || len(c.FailedDigests) != 2 || c.FailedDigests[0] != audit.HashOf([]byte(names[0])) ||
		strings.Contains(string(data), "patient-jane-doe") || strings.Contains(string(data), `"objects"`) {
		t.Errorf("WithoutNames = %s", data)
	}
	if c := (audit.CheckResult{Name: "rto", Passed: true}).WithoutNames(); c.FailedObjects != 0 || c.FailedDigests != nil {
		t.Errorf("WithoutNames of a check naming nothing = %+v", c)
	}
}
