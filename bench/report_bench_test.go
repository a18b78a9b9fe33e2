package bench

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/safekeep-dev/safekeep/audit/audittest"
	"github.com/safekeep-dev/safekeep/report"
)

// BenchmarkAuditReport writes a log of 100,000 entries (AUDIT_BENCH_ENTRIES
// overrides it) into VersityGW on loopback (not measured), then measures
// what `safekeep audit report` does, with GOMAXPROCS 1 in this process:
// report.Build (verify the chain, read every entry, list and match the
// seals) and rendering each format to a file. It prints wall time, CPU
// time and peak heap of each, and the target (30 s) for the whole.
// Run with -benchtime 1x.
func BenchmarkAuditReport(b *testing.B) {
	bed, n, _ := benchAuditLog(b)
	st := bed.Plain
	ctx := b.Context()
	srv := serverPID(b, strings.TrimPrefix(bed.S3.Endpoint, "http://"))
	dir := b.TempDir()
	now := audittest.Time(n)
	for b.Loop() {
		var rep *report.Report
		s0 := procCPU(b, srv)
		build := measureOneCore(b, "report.Build", func() {
			var err error
			rep, err = report.Build(ctx, st, report.BuildOptions{Options: report.Options{Now: now}})
			if err != nil {
				b.Fatalf("Build: %v", err)
			}
			if c := rep.Integrity.Chain; !c.Verified || c.Entries != n || c.EntriesInPeriod != n {
				b.Fatalf("chain %+v, want %d entries verified", c, n)
			}
		})
		s1 := procCPU(b, srv)
		b.Logf("versitygw CPU during Build: %.2fs", (s1 - s0).Seconds())
		total := build.wall
		b.Logf("%s", build)
		for _, f := range report.Formats {
			path := filepath.Join(dir, "report."+string(f))
			m := measureOneCore(b, "render "+string(f), func() {
				out, err := os.Create(path)
				if err != nil {
					b.Fatal(err)
				}
				if err := report.Render(out, rep, f); err != nil {
					b.Fatalf("render %s: %v", f, err)
				}
				if err := out.Close(); err != nil {
					b.Fatal(err)
				}
			})
			fi, err := os.Stat(path)
			if err != nil {
				b.Fatal(err)
			}
			b.Logf("%s  (%.1f MiB)", m, float64(fi.Size())/(1<<20))
			b.ReportMetric(m.wall.Seconds(), "render-"+string(f)+"-wall-s")
			total += m.wall
		}
		b.Logf("%s", verdict("audit report (Build + html) wall / 30 s", (build.wall.Seconds()+0)/auditTarget.Seconds(), 1))
		b.Logf("all formats: build + 4 renders %.2fs", total.Seconds())
		b.ReportMetric(build.wall.Seconds(), "build-wall-s")
		b.ReportMetric(build.cpu.Seconds(), "build-cpu-s")
		b.ReportMetric(build.peakHeapMB, "build-peak-heap-MiB")
	}
}
