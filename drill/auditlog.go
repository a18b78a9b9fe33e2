package drill

import (
	"strings"

	"github.com/safekeep-dev/safekeep/audit"
)

// withheldMessage stands in the plaintext audit log for a check message
// that may quote names.
const withheldMessage = "message withheld from the plaintext log (it may name objects); see the run's status"

// ForLog returns c as the plaintext audit log keeps it: its failed objects
// as a count and name digests (audit.CheckResult.WithoutNames), and its
// message only where the check builds it from counts, durations, kinds
// and digests. Other messages quote sealed object keys, Velero's restore
// errors, volume or resource names, which are key-holder-only
// (docs/manifest.md): they stay in the cluster (the run's status) and on
// the responder's screen.
func ForLog(c audit.CheckResult) audit.CheckResult {
	c = c.WithoutNames()
	if !countsOnly(c) {
		c.Message = withheldMessage
	}
	return c
}

// countsOnly says whether c's message holds no names.
func countsOnly(c audit.CheckResult) bool {
	if c.Message == "not run" || strings.HasPrefix(c.Message, "not run: ") || c.Message == "not requested" {
		return true // the runner's own wording
	}
	switch c.Name {
	case CheckRTO, CheckVolumeFiles:
		return true
	case CheckSeal, CheckDecrypt, CheckPresence, CheckContent, CheckVolumes:
		// Passing, these say counts; failing, they quote the first object.
		return c.Passed
	}
	// CheckRestore quotes Velero's failure reason and validation errors,
	// CheckJob the API server's refusal; unknown checks say who knows what.
	return false
}

// ChecksForLog is ForLog of each of cs.
func ChecksForLog(cs []audit.CheckResult) []audit.CheckResult {
	out := make([]audit.CheckResult, 0, len(cs))
	for _, c := range cs {
		out = append(out, ForLog(c))
	}
	return out
}
