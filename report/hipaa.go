package report

import (
	"fmt"
	"time"
)

// HIPAA row statuses.
const (
	// StatusEvidence: the period holds evidence supporting the requirement.
	StatusEvidence = "evidence"
	// StatusGap: the period holds none, or the evidence shows a problem.
	StatusGap = "gap"
)

// Disclaimer is printed above the HIPAA table in every format: the report
// supports an assessment, it does not make one.
const Disclaimer = "This table links the evidence in this report to HIPAA Security Rule " +
	"requirements. It supports, and does not prove, compliance: compliance also depends on " +
	"policies, risk analysis, training and procedures outside Safekeep, and is for your " +
	"compliance officer and auditors to assess."

// Section ids: the HTML anchors of the report's sections, named in
// HIPAARow.Sections.
const (
	SectionSchedules     = "schedules"
	SectionDrills        = "drills"
	SectionRestores      = "restores"
	SectionDeletions     = "deletions"
	SectionTargetChanges = "target-changes"
	SectionFailures      = "failures"
	SectionIntegrity     = "integrity"
)

// hipaaRows builds the mapping table from the report's numbers.
func hipaaRows(r *Report) []HIPAARow {
	var sealed, failed, notCovered, runs, passed, recipients int
	fps := map[string]bool{}
	for _, s := range r.Schedules {
		sealed += s.BackupsSealed
		failed += s.BackupsFailed
		notCovered += s.BackupsNotCovered
		for _, u := range s.Recipients {
			fps[u.Fingerprint] = true
		}
	}
	recipients = len(fps)
	for _, d := range r.Drills {
		runs += d.Runs
		passed += d.Passed
	}
	chain, seals := r.Integrity.Chain, r.Integrity.Seals
	row := func(cite, req string, ok bool, evidence string, sections ...string) HIPAARow {
		st := StatusGap
		if ok {
			st = StatusEvidence
		}
		return HIPAARow{Citation: cite, Requirement: req, Sections: sections, Evidence: evidence, Status: st}
	}
	sealsOK := seals.Checked && seals.Missing+seals.Mismatch+seals.Failed+seals.Damaged+seals.Unreadable == 0
	return []HIPAARow{
		row("164.308(a)(7)(ii)(A)", "Data backup plan: create and maintain retrievable exact copies of ePHI",
			sealed > 0,
			fmt.Sprintf("%d backups sealed offsite (encrypted, signed, object-locked when configured) across %d schedules; %d backups failed; %d sealed backups left some volumes' data out of the offsite copy (see each backup's Volumes).",
				sealed, len(r.Schedules), failed, notCovered),
			SectionSchedules, SectionFailures),
		row("164.308(a)(7)(ii)(B)", "Disaster recovery plan: procedures to restore any loss of data",
			runs > 0 || len(r.Restores) > 0,
			fmt.Sprintf("%d restore drills ran the recovery procedure end to end into scratch namespaces; %d incident restores were recorded.",
				runs, len(r.Restores)),
			SectionDrills, SectionRestores),
		row("164.308(a)(7)(ii)(D)", "Testing and revision procedures for contingency plans",
			runs > 0,
			fmt.Sprintf("%d drill runs, %d passed; each failure is listed with the checks that failed; %d changes to offsite targets (revisions) were recorded.",
				runs, passed, len(r.TargetChanges)),
			SectionDrills, SectionTargetChanges),
		row("164.312(a)(2)(iv)", "Encryption and decryption of ePHI",
			sealed > 0 && recipients > 0,
			fmt.Sprintf("Every sealed backup is age-encrypted before it leaves the cluster; %d distinct recipient keys (by fingerprint) were in use; drills decrypted backups with the drill key.",
				recipients),
			SectionSchedules, SectionDrills),
		row("164.312(b)", "Audit controls: record and examine activity",
			chain.Checked && chain.Verified,
			fmt.Sprintf("A hash-chained, signed audit log records every seal, deletion, drill, restore, configuration change and failure: %d entries in the period; chain of %d entries %s.",
				chain.EntriesInPeriod, chain.Entries, verdict(chain.Checked, chain.Verified)),
			SectionIntegrity),
		row("164.312(c)(2)", "Mechanism to corroborate that ePHI has not been altered or destroyed",
			sealsOK && chain.Checked && chain.Verified,
			fmt.Sprintf("Seals (signed ciphertext SHA-256 and size of every object) %s: %d verified of %d logged, %d missing, %d mismatched, %d failed, %d damaged, %d unreadable; retention deletions are logged.",
				verdict(seals.Checked, sealsOK), seals.Verified, seals.Logged, seals.Missing, seals.Mismatch, seals.Failed, seals.Damaged, seals.Unreadable),
			SectionIntegrity, SectionDeletions),
		row("164.316(b)(2)", "Retain documentation for six years",
			chain.Checked && chain.Verified,
			fmt.Sprintf("The audit log is kept in the offsite bucket, each entry object-locked for the evidence retention (six years by default); it holds entries from %s to %s, chained from the first.",
				dateOr(chain.FirstTime), dateOr(chain.LastTime)),
			SectionIntegrity),
	}
}

func verdict(checked, ok bool) string {
	switch {
	case !checked:
		return "not checked"
	case ok:
		return "verified"
	default:
		return "NOT verified"
	}
}

func dateOr(t *time.Time) string {
	if t == nil {
		return "(none)"
	}
	return t.Format(time.DateOnly)
}
