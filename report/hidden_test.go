package report_test

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/html"

	"github.com/safekeep-dev/safekeep/audit"
	"github.com/safekeep-dev/safekeep/report"
	"github.com/safekeep-dev/safekeep/report/reporttest"
)

// hiddenReport is a report with one recover entry (two objects: one made
// current again, one with no matching version) and two objects hidden now
// (one recoverable under a delete marker, one overwritten and not
// recoverable).
func hiddenReport(t *testing.T) *report.Report {
	t.Helper()
	marker := reporttest.Start.Add(time.Hour)
	d := audit.RecoverDetails{Schedule: "nightly", Backup: "n-1", User: "alice", Host: "laptop", Objects: []audit.RecoveredObject{
		{Key: "backups/nightly/n-1/seal.json", MarkerVersion: "m1", MarkerTime: marker, Version: "v-seal", Action: "remove-markers", Removed: []string{"m1"}},
		{Key: "backups/nightly/n-1/objects/n-1.tar.gz.age", MarkerVersion: "m2", MarkerTime: marker, Action: "none", Error: "no version under it matches the seal"},
	}}
	raw, err := json.Marshal(d)
	if err != nil {
		t.Fatal(err)
	}
	r := report.FromEntries([]audit.Entry{{Seq: 1, Time: reporttest.Start.Add(2 * time.Hour), Actor: "responder", Kind: audit.KindRecover,
		Subject: "nightly/n-1", Details: raw}}, report.Options{Now: reporttest.Start.AddDate(0, 0, 1), Target: "s3://offsite"})
	r.Integrity.Seals.Hidden = []report.HiddenObject{
		{Schedule: "weekly", Backup: "w-1", Key: "backups/weekly/w-1/manifest.json.age", Kind: "delete-marker", MarkerAt: marker, Recoverable: true, Version: "v-manifest"},
		{Schedule: "weekly", Backup: "w-2", Key: "backups/weekly/w-2/seal.json", Kind: "overwritten", MarkerAt: marker},
	}
	return r
}

// TestRenderHiddenAndRecovered: JSON carries every hidden object and every
// recovery with its fields, and the HTML page shows each as a table row,
// a hidden object with what hides it (a delete marker or an overwrite).
func TestRenderHiddenAndRecovered(t *testing.T) {
	r := hiddenReport(t)
	if len(r.Recoveries) != 2 {
		t.Fatalf("recoveries %+v, want the entry's two objects", r.Recoveries)
	}

	var back report.Report
	if err := json.Unmarshal([]byte(render(t, r, report.FormatJSON)), &back); err != nil {
		t.Fatal(err)
	}
	if !slices.EqualFunc(back.Recoveries, r.Recoveries, func(a, b report.Recovery) bool {
		return a.Time.Equal(b.Time) && a.MarkerTime.Equal(b.MarkerTime) && a.Key == b.Key && a.Version == b.Version &&
			a.Action == b.Action && a.Error == b.Error && a.Actor == b.Actor && a.Schedule == b.Schedule && a.Backup == b.Backup
	}) {
		t.Errorf("JSON recoveries %+v, want %+v", back.Recoveries, r.Recoveries)
	}
	if !slices.EqualFunc(back.Integrity.Seals.Hidden, r.Integrity.Seals.Hidden, func(a, b report.HiddenObject) bool {
		return a.MarkerAt.Equal(b.MarkerAt) && a.Key == b.Key && a.Recoverable == b.Recoverable && a.Version == b.Version &&
			a.Schedule == b.Schedule && a.Backup == b.Backup && a.Kind == b.Kind
	}) {
		t.Errorf("JSON hidden %+v, want %+v", back.Integrity.Seals.Hidden, r.Integrity.Seals.Hidden)
	}

	page := render(t, r, report.FormatHTML)
	checkNoFetch(t, page)
	marker := reporttest.Start.Add(time.Hour).UTC().Format("2006-01-02 15:04:05Z")
	wantRows(t, page, "hidden-object", [][]string{
		{"weekly/w-1", "backups/weekly/w-1/manifest.json.age", "delete marker", marker, "yes, from version v-manifest"},
		{"weekly/w-2", "backups/weekly/w-2/seal.json", "overwritten with other bytes", marker, "no"},
	})
	wantRows(t, page, "recovery", [][]string{
		{"nightly/n-1", "backups/nightly/n-1/objects/n-1.tar.gz.age", marker, "", "none: no version under it matches the seal", "responder"},
		{"nightly/n-1", "backups/nightly/n-1/seal.json", marker, "v-seal", "remove-markers", "responder"},
	})
}

// wantRows finds the <tr class=class> rows of page and compares their cells
// (a recovery's first cell, its time, is left out) with want, in any order.
func wantRows(t *testing.T, page, class string, want [][]string) {
	t.Helper()
	doc, err := html.Parse(strings.NewReader(page))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for n := range doc.Descendants() {
		if n.Type != html.ElementNode || n.Data != "tr" || attr(n, "class") != class {
			continue
		}
		var cells []string
		for c := range n.ChildNodes() {
			if c.Type == html.ElementNode && c.Data == "td" {
				cells = append(cells, strings.TrimSpace(text(c)))
			}
		}
		if class == "recovery" && len(cells) > 0 {
			cells = cells[1:]
		}
		got = append(got, strings.Join(cells, " | "))
	}
	var wants []string
	for _, w := range want {
		wants = append(wants, strings.Join(w, " | "))
	}
	slices.Sort(got)
	slices.Sort(wants)
	if !slices.Equal(got, wants) {
		t.Errorf("HTML rows of class %s:\n got %q\nwant %q", class, got, wants)
	}
}

func attr(n *html.Node, key string) string {
	for _, a := range n.Attr {
		if a.Key == key {
			return a.Val
		}
	}
	return ""
}

func text(n *html.Node) string {
	var b strings.Builder
	for d := range n.Descendants() {
		if d.Type == html.TextNode {
			b.WriteString(d.Data)
		}
	}
	return b.String()
}
