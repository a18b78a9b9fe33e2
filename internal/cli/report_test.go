package cli

import (
	"encoding/csv"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/safekeep-dev/safekeep/audit/audittest"
	"github.com/safekeep-dev/safekeep/crypto"
	"github.com/safekeep-dev/safekeep/report"
	"github.com/safekeep-dev/safekeep/report/reporttest"
)

func TestAuditReport(t *testing.T) {
	b := newBed(t)
	id, err := crypto.GenerateIdentity()
	if err != nil {
		t.Fatal(err)
	}
	target := b.writeTarget(t, "target.yaml", plainBucket, false, id.Recipient().String())
	st := audittest.OpenStore(t, b.s3.Config(plainBucket, "cluster-a/safekeep/v1"))
	signer, err := crypto.GenerateSigningKey()
	if err != nil {
		t.Fatal(err)
	}
	n := reporttest.WriteLog(t, st, signer)
	pub := b.write(t, "signing.pub", signer.Public().String()+"\n")

	// JSON to stdout, pinned key, the whole log.
	r := b.run(t, "audit", "report", "--target-file", target, "--format", "json", "--verify-key", pub)
	var rep report.Report
	if r.code != 0 || json.Unmarshal([]byte(r.out), &rep) != nil {
		t.Fatalf("audit report --format json: exit %d, stdout %.200q", r.code, r.out)
	}
	if c := rep.Integrity.Chain; !c.Verified || c.Entries != n || rep.Drills[0].Runs != reporttest.DrillRuns {
		t.Errorf("report: chain %+v, drills %+v", c, rep.Drills)
	}
	// No seal is in this bucket: the report says so on stderr, and exits 0.
	if !strings.Contains(r.err, "seal problem(s)") {
		t.Errorf("stderr %q does not warn about the missing seals", r.err)
	}

	// A period, to a file whose extension names the format.
	out := filepath.Join(b.dir, "events.csv")
	r = b.run(t, "audit", "report", "--target-file", target, "--since", "2025-03-08", "--until", "2025-03-09", "-o", out)
	if r.code != 0 || r.out != "" || !strings.Contains(r.err, "wrote "+out+" (csv)") {
		t.Fatalf("audit report -o events.csv: exit %d stdout %q stderr %q", r.code, r.out, r.err)
	}
	f, err := os.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = f.Close() }()
	rows, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	// Day 7 (2025-03-08) and day 8: a seal and a drill each, day 8's seal
	// failure too.
	if len(rows) != 1+5 {
		t.Errorf("CSV of 2025-03-08..09 has %d rows: %v", len(rows), rows)
	}
	if fi, err := os.Stat(out); err != nil || fi.Mode().Perm() != 0o644 {
		t.Errorf("report file mode %v (%v), want 0644", fi.Mode(), err)
	}
	matches, _ := filepath.Glob(filepath.Join(b.dir, ".events.csv.tmp-*"))
	if len(matches) != 0 {
		t.Errorf("temporary files left: %v", matches)
	}

	// -o - is standard output, never a file named "-".
	t.Chdir(b.dir)
	r = b.run(t, "audit", "report", "--target-file", target, "--format", "md", "-o", "-")
	if r.code != 0 || !strings.HasPrefix(r.out, "# ") {
		t.Errorf("audit report -o -: exit %d, stdout %.60q", r.code, r.out)
	}
	if _, err := os.Stat(filepath.Join(b.dir, "-")); err == nil {
		t.Error("audit report -o - wrote a file named -")
	}
	if r := b.run(t, "audit", "report", "--target-file", target, "-o", "-"); r.code != 2 || !strings.Contains(r.err, "--format is required") {
		t.Errorf("audit report -o - without --format: exit %d, stderr %q", r.code, r.err)
	}

	// HTML replaces an existing file.
	html := b.write(t, "r.html", "old")
	b.run(t, "audit", "report", "--target-file", target, "-o", html)
	if data, _ := os.ReadFile(html); !strings.HasPrefix(string(data), "<!DOCTYPE html>") {
		t.Errorf("r.html not replaced: %.40q", data)
	}

	for _, tc := range []struct {
		name   string
		args   []string
		code   int
		stderr string
	}{
		{"no format", []string{"--target-file", target}, 2, "--format is required"},
		{"bad format", []string{"--target-file", target, "--format", "pdf"}, 2, `--format "pdf": want html, md, csv or json`},
		{"bad extension", []string{"--target-file", target, "-o", "x.pdf"}, 2, `-o x.pdf: extension "pdf"`},
		{"bad since", []string{"--target-file", target, "--format", "md", "--since", "2025-13-01"}, 2, `--since "2025-13-01": want a date`},
		{"bad until", []string{"--target-file", target, "--format", "md", "--until", "yesterday"}, 2, `--until "yesterday": want a date`},
		{"empty period", []string{"--target-file", target, "--format", "md", "--since", "2025-03-02", "--until", "2025-03-01"}, 2, "is not before --until"},
		{"no target", []string{"--format", "md"}, 2, "--target-file is required"},
		{"wrong key", []string{"--target-file", target, "--format", "md", "--verify-key", "/nonexistent.pub"}, 1, "audit report: open /nonexistent.pub"},
		{"unwritable", []string{"--target-file", target, "-o", filepath.Join(b.dir, "no", "such", "dir", "r.md")}, 1, "audit report:"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			checkOneLine(t, b.run(t, append([]string{"audit", "report"}, tc.args...)...), tc.code, tc.stderr)
		})
	}
	if strings.Contains(b.outputs.String(), b.s3.SecretKey) {
		t.Error("a credential was printed")
	}
}

func TestParseDate(t *testing.T) {
	for _, tc := range []struct {
		in   string
		end  bool
		want string
	}{
		{"2025-01-31", false, "2025-01-31T00:00:00Z"},
		{"2025-01-31", true, "2025-02-01T00:00:00Z"},
		{"2025-01-31T08:00:00+02:00", true, "2025-01-31T06:00:00Z"},
		{"2025-01-31T08:00:00Z", false, "2025-01-31T08:00:00Z"},
	} {
		got, err := parseDate("since", tc.in, tc.end)
		if err != nil || got.Format("2006-01-02T15:04:05Z07:00") != tc.want {
			t.Errorf("parseDate(%q, %v) = %v, %v; want %s", tc.in, tc.end, got, err, tc.want)
		}
	}
	for _, bad := range []string{"2025-1-1", "31/01/2025", "2025-02-30", "now"} {
		if _, err := parseDate("until", bad, true); err == nil || exitCode(err) != exitUsage {
			t.Errorf("parseDate(%q) = %v, want a usage error", bad, err)
		}
	}
}
