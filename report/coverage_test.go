package report_test

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"golang.org/x/net/html"

	"github.com/safekeep-dev/safekeep/report"
	"github.com/safekeep-dev/safekeep/report/reporttest"
)

// The coverage each seal entry records is in every format: the backup's
// volumes sealed and not covered by reason, and per schedule the backups
// with volumes not covered.
func TestVolumeCoverage(t *testing.T) {
	r := sample(t)
	s := r.Schedules[0]
	last := reporttest.BackupName(reporttest.NotCoveredDay)
	if s.BackupsNotCovered != 1 {
		t.Errorf("backupsNotCovered = %d, want 1", s.BackupsNotCovered)
	}
	var got *report.VolumeCoverage
	for _, b := range s.Backups {
		if b.Name == last {
			got = b.Volumes
		} else if b.Volumes == nil || b.Volumes.Sealed != 2 || b.Volumes.NotCovered != 0 {
			t.Errorf("backup %s volumes %+v, want 2 sealed", b.Name, b.Volumes)
		}
	}
	if got == nil || got.Sealed != 2 || got.NotCovered != 1 || got.Reasons["CSISnapshotNotMoved"] != 1 {
		t.Fatalf("backup %s volumes %+v, want 2 sealed, 1 CSISnapshotNotMoved", last, got)
	}
	const want = "2 sealed, 1 not covered (CSISnapshotNotMoved 1)"

	page := render(t, r, report.FormatHTML)
	doc, err := html.Parse(strings.NewReader(page))
	if err != nil {
		t.Fatal(err)
	}
	cell := find(doc, func(n *html.Node) bool { return hasClass(n, "volumes") && attr(n, "data-not-covered") == "1" })
	if cell == nil || attr(cell, "data-sealed") != "2" || !strings.Contains(text(cell), want) || !hasClass(cell, "bad") ||
		cell.Parent == nil || attr(cell.Parent, "data-backup") != last {
		t.Errorf("HTML has no volumes cell %q on backup %s", want, last)
	}
	if c := find(doc, func(n *html.Node) bool { return hasClass(n, "not-covered") }); c == nil || attr(c, "data-value") != "1" {
		t.Error("HTML schedule row lacks td.not-covered[data-value=1]")
	}

	if ev := r.HIPAA[0].Evidence; !strings.Contains(ev, "1 sealed backups left some volumes' data out") {
		t.Errorf("HIPAA data backup plan evidence %q does not count the backups with volumes not covered", ev)
	}
	if md := render(t, r, report.FormatMarkdown); !strings.Contains(md, "| "+want+" |") || !strings.Contains(md, "| Volumes not covered |") {
		t.Errorf("Markdown lacks the coverage %q", want)
	}
	if csv := render(t, r, report.FormatCSV); !strings.Contains(csv, "volumes="+want) {
		t.Errorf("CSV lacks volumes=%s", want)
	}
	var doc2 struct {
		Schedules []struct {
			BackupsNotCovered int `json:"backupsNotCovered"`
			Backups           []struct {
				Name    string          `json:"name"`
				Volumes json.RawMessage `json:"volumes"`
			} `json:"backups"`
		} `json:"schedules"`
	}
	if err := json.Unmarshal([]byte(render(t, r, report.FormatJSON)), &doc2); err != nil {
		t.Fatal(err)
	}
	bs := doc2.Schedules[0].Backups
	var compact bytes.Buffer
	if err := json.Compact(&compact, bs[len(bs)-1].Volumes); err != nil {
		t.Fatal(err)
	}
	if doc2.Schedules[0].BackupsNotCovered != 1 || compact.String() != `{"sealed":2,"notCovered":1,"reasons":{"CSISnapshotNotMoved":1}}` {
		t.Errorf("JSON coverage: %d backups not covered, last %s", doc2.Schedules[0].BackupsNotCovered, compact.String())
	}
}

func find(n *html.Node, match func(*html.Node) bool) *html.Node {
	if n.Type == html.ElementNode && match(n) {
		return n
	}
	for c := n.FirstChild; c != nil; c = c.NextSibling {
		if f := find(c, match); f != nil {
			return f
		}
	}
	return nil
}

func hasClass(n *html.Node, class string) bool {
	return n.Type == html.ElementNode && n.Data == "td" && strings.Contains(" "+attr(n, "class")+" ", " "+class+" ")
}

// With the cluster's OffsiteBackup status at hand (Options.NotCovered,
// what `audit report --target` reads), the report names the volumes not
// covered of the backups whose seal entry counts some, says where the
// names come from, and in every format; other backups get no names.
func TestVolumeCoverageNamed(t *testing.T) {
	last := reporttest.BackupName(reporttest.NotCoveredDay)
	sched := sample(t).Schedules[0].Name
	named := []report.NamedVolume{{Namespace: "phi-app", PVC: "scans", Reason: "CSISnapshotNotMoved"}}
	opts := report.Options{Now: sampleNow, NotCoveredFrom: "the OffsiteBackups' status.volumes in safekeep-system",
		NotCovered: map[string][]report.NamedVolume{sched + "/" + last: named, sched + "/other": named}}
	r := report.FromEntries(reporttest.Entries(), opts)
	const want = "2 sealed, 1 not covered (CSISnapshotNotMoved 1): phi-app/scans: CSISnapshotNotMoved (from the OffsiteBackups' status.volumes in safekeep-system)"
	for _, b := range r.Schedules[0].Backups {
		if b.Name == last && (b.Volumes == nil || len(b.Volumes.Named) != 1 || b.Volumes.NamedFrom == "") {
			t.Errorf("backup %s volumes %+v, want phi-app/scans named", b.Name, b.Volumes)
		}
		if b.Name != last && b.Volumes != nil && len(b.Volumes.Named) != 0 {
			t.Errorf("backup %s with all volumes sealed names %+v", b.Name, b.Volumes.Named)
		}
	}
	for _, f := range []report.Format{report.FormatHTML, report.FormatMarkdown, report.FormatCSV, report.FormatJSON} {
		out := render(t, r, f)
		if f == report.FormatJSON {
			if !strings.Contains(out, `"named": [`) || !strings.Contains(out, `"pvc": "scans"`) {
				t.Errorf("JSON lacks the named volume")
			}
			continue
		}
		w := want
		if f == report.FormatHTML {
			w = html.EscapeString(want)
		}
		if !strings.Contains(out, w) {
			t.Errorf("%s lacks %q", f, w)
		}
	}
	if out := render(t, sample(t), report.FormatMarkdown); strings.Contains(out, "phi-app/scans") {
		t.Error("a report built without the cluster names a volume")
	}
}
