package htmltest

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/safekeep-dev/safekeep/report"
	"github.com/safekeep-dev/safekeep/report/reporttest"
	"github.com/safekeep-dev/safekeep/seal/sealtest"
)

// chromium is Debian's chromium (hack/install-deps.sh installs it).
const chromium = "/usr/bin/chromium"

// requests records the URLs a tab asked for.
type requests struct {
	mu   sync.Mutex
	urls []string
}

func (r *requests) listen(ev any) {
	if e, ok := ev.(*network.EventRequestWillBeSent); ok && e.Request != nil {
		r.mu.Lock()
		r.urls = append(r.urls, e.Request.URL)
		r.mu.Unlock()
	}
}

func (r *requests) list() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.urls...)
}

// browser starts headless Chromium for the test and returns a context for
// new tabs.
func browser(t *testing.T) context.Context {
	t.Helper()
	if _, err := os.Stat(chromium); err != nil {
		t.Fatalf("%s is missing (%v): install Debian's chromium (apt-get install -y chromium, or hack/install-deps.sh)", chromium, err)
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromium),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("no-pings", true),
		chromedp.WindowSize(1280, 900),
		chromedp.UserDataDir(t.TempDir()),
	)
	if os.Geteuid() == 0 {
		opts = append(opts, chromedp.NoSandbox)
	}
	actx, cancel := chromedp.NewExecAllocator(t.Context(), opts...)
	t.Cleanup(cancel)
	return actx
}

// tab opens a tab recording its requests; the first Run starts the browser.
func tab(t *testing.T, parent context.Context) (context.Context, *requests) {
	t.Helper()
	reqs := &requests{}
	ctx, cancel := chromedp.NewContext(parent, chromedp.WithListener(reqs.listen))
	t.Cleanup(cancel)
	return ctx, reqs
}

// artifacts is _out/artifacts at the repository root (git-ignored).
func artifacts(t *testing.T) string {
	t.Helper()
	dir, err := filepath.Abs(".")
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			break
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("no go.mod above the test's folder")
		}
		dir = parent
	}
	out := filepath.Join(dir, "_out", "artifacts")
	if err := os.MkdirAll(out, 0o755); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestReportInChromium renders the report of a real audit log and real
// seals (VersityGW) and checks it in headless Chromium: it renders, the
// charts have one point per run and one cell per day, the tables show the
// sample's numbers, it prints, and it made no network request. A full-page
// screenshot is kept in _out/artifacts.
func TestReportInChromium(t *testing.T) {
	bctx := browser(t)
	bed := sealtest.NewBed(t, false)
	n := reporttest.WriteSample(t, bed)
	now := reporttest.Start.AddDate(0, 0, reporttest.Days)
	rep, err := report.Build(t.Context(), bed.Offsite, report.BuildOptions{Options: report.Options{Now: now, Target: "s3.example/evidence/site"}})
	if err != nil {
		t.Fatal(err)
	}
	dir := artifacts(t)
	page := filepath.Join(dir, "report.html")
	f, err := os.Create(page)
	if err != nil {
		t.Fatal(err)
	}
	if err := report.WriteHTML(f, rep); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	url := "file://" + page

	ctx, reqs := tab(t, bctx)
	if err := chromedp.Do(ctx, chromedp.Navigate(url)); err != nil {
		t.Fatalf("open %s in Chromium: %v", url, err)
	}
	run := func(ctx context.Context, js string) string {
		t.Helper()
		tctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		v, err := chromedp.Run(tctx, chromedp.Evaluate[any](js))
		if err != nil {
			t.Fatalf("evaluate %s: %v", js, err)
		}
		return fmt.Sprint(v)
	}
	drill := reporttest.Namespace + "/" + reporttest.Drill
	checks := []struct{ what, js, want string }{
		{"title", `document.title.startsWith("Safekeep evidence report")`, "true"},
		{"page height", `document.documentElement.scrollHeight > 1500`, "true"},
		{"CSS applied", `getComputedStyle(document.querySelector("circle.rto-point.fail")).fill`, "rgb(198, 40, 40)"},
		{"RTO chart points", `document.querySelectorAll('svg.rto-chart[data-drill="` + drill + `"] circle.rto-point').length`, fmt.Sprint(reporttest.DrillRuns)},
		{"RTO chart data-points", `document.querySelector('svg.rto-chart').dataset.points`, fmt.Sprint(reporttest.DrillRuns)},
		{"failed points", `document.querySelectorAll("circle.rto-point.fail").length`, fmt.Sprint(reporttest.DrillFailed)},
		{"points over objective", `document.querySelectorAll("circle.rto-point.over").length`, fmt.Sprint(reporttest.OverObjective)},
		{"objective line", `document.querySelector("polyline.rto-objective").dataset.objective`, fmt.Sprint(reporttest.MaxRTOSeconds)},
		{"objective drawn", `document.querySelector("polyline.rto-objective").getBBox().width > 500`, "true"},
		{"calendar cells", `document.querySelectorAll('svg.calendar[data-drill="` + drill + `"] rect.day').length`, fmt.Sprint(reporttest.Days)},
		{"calendar fail days", `document.querySelectorAll("svg.calendar rect.day.fail").length`, fmt.Sprint(reporttest.DrillFailed)},
		{"calendar pass days", `document.querySelectorAll("svg.calendar rect.day.pass").length`, fmt.Sprint(reporttest.DrillPassed)},
		{"calendar day 4 failed", `document.querySelector('rect.day[data-date="2025-03-04"]').classList.contains("fail")`, "true"},
		{"sealed", `document.querySelector('tr.schedule[data-schedule="nightly"] td.sealed').innerText`, fmt.Sprint(reporttest.Sealed)},
		{"taken", `document.querySelector('tr.schedule[data-schedule="nightly"] td.taken').innerText`, fmt.Sprint(reporttest.BackupsTaken)},
		{"failed", `document.querySelector('tr.schedule[data-schedule="nightly"] td.failed').innerText`, fmt.Sprint(reporttest.BackupsFailed)},
		{"recipients", `document.querySelectorAll('tr.schedule[data-schedule="nightly"] .recipient').length`, fmt.Sprint(reporttest.Recipients)},
		{"drill runs", `document.querySelector('tr.drill td.runs').innerText`, fmt.Sprint(reporttest.DrillRuns)},
		{"pass rate", `document.querySelector('tr.drill td.pass-rate').innerText`, "86%"},
		{"failure causes", `[...document.querySelectorAll("tr.drill-failure .check")].map(e => e.dataset.check).join(",")`, "content,max-rto"},
		{"failed object", `document.querySelector("tr.drill-failure").innerText.includes("[1 objects named in the drill's status]")`, "true"},
		{"restore", `document.querySelector("tr.restore td.user").innerText + "@" + document.querySelector("tr.restore td.host").innerText`, "alice@laptop-7"},
		{"deletions", `document.querySelectorAll("tr.deletion").length`, fmt.Sprint(reporttest.Deletions)},
		{"target changes", `document.querySelectorAll("tr.target-change").length`, fmt.Sprint(reporttest.TargetChanges)},
		{"chain verified", `document.getElementById("chain").dataset.verified + "/" + document.getElementById("chain").dataset.entries`, fmt.Sprintf("true/%d", n)},
		{"seals verified", `document.getElementById("seals").dataset.verified + "/" + document.getElementById("seals").dataset.deleted`,
			fmt.Sprintf("%d/%d", reporttest.Sealed-reporttest.Deletions, reporttest.Deletions)},
		{"HIPAA rows", `document.querySelectorAll("#hipaa-table tr[data-citation]").length`, "7"},
		{"HIPAA evidence", `[...document.querySelectorAll("#hipaa-table td.status")].every(e => e.dataset.value === "evidence")`, "true"},
		{"no resource loaded", `performance.getEntriesByType("resource").length`, "0"},
		{"no script ran", `document.scripts.length`, "0"},
	}
	for _, c := range checks {
		if got := run(ctx, c.js); got != c.want {
			t.Errorf("%s: got %s, want %s\n  (%s)", c.what, got, c.want, c.js)
		}
	}

	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	shot := filepath.Join(dir, "report-chromium.png")
	if err := os.WriteFile(shot, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s (%d bytes); page: %s", shot, len(png), page)

	// Printed, the navigation goes and the charts stay.
	err = chromedp.Do(ctx, chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := cdp.Call(ctx, tg, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{Media: "print"})
		return err
	}))
	if err != nil {
		t.Fatalf("emulate print: %v", err)
	}
	if got := run(ctx, `getComputedStyle(document.querySelector("nav")).display + "/" + document.querySelectorAll("svg.rto-chart circle").length`); got != fmt.Sprintf("none/%d", reporttest.DrillRuns) {
		t.Errorf("print media: nav display/points %s", got)
	}

	for _, u := range reqs.list() {
		if u != url {
			t.Errorf("the report requested %s", u)
		}
	}

	// The request check can fail: a page that loads an image is caught.
	canary := filepath.Join(t.TempDir(), "canary.html")
	if err := os.WriteFile(canary, []byte(`<!DOCTYPE html><img src="http://127.0.0.1:9/x.png">`), 0o644); err != nil {
		t.Fatal(err)
	}
	cctx, creqs := tab(t, ctx)
	if err := chromedp.Do(cctx, chromedp.Navigate("file://"+canary)); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(strings.Join(creqs.list(), " "), "127.0.0.1:9") && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if got := creqs.list(); !strings.Contains(strings.Join(got, " "), "127.0.0.1:9") {
		t.Errorf("the request listener missed the canary's image request: saw %v", got)
	}
}
