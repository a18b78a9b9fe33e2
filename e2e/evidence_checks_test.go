package e2e

import (
	"bytes"
	"errors"
	"io"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/safekeep-dev/safekeep/api/v1alpha1"
	"github.com/safekeep-dev/safekeep/audit"
	"github.com/safekeep-dev/safekeep/report"
	"github.com/safekeep-dev/safekeep/seal"
	"github.com/safekeep-dev/safekeep/storage"
	"github.com/safekeep-dev/safekeep/target"
)

// openOffsite opens the target's store with the credentials of its Secret.
func openOffsite(t *testing.T, c client.Reader, tgt *v1alpha1.OffsiteTarget) storage.Store {
	t.Helper()
	cfg, err := target.Config(t.Context(), c, tgt)
	if err != nil {
		t.Fatal(err)
	}
	st, err := storage.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// evSeal returns the seal of backup, the only backup offsite.
func evSeal(t *testing.T, st storage.Store, backup string) *seal.Seal {
	t.Helper()
	entries, err := seal.List(t.Context(), st)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 || entries[0].Schedule != evSchedule || entries[0].Backup != backup || !entries[0].Restorable() {
		t.Fatalf("offsite backups %+v, want %s/%s sealed", entries, evSchedule, backup)
	}
	return entries[0].Seal
}

func evCheckSchedules(t *testing.T, got []report.Schedule, backup string, s *seal.Seal, fingerprints []string) {
	t.Helper()
	if len(got) != 1 {
		t.Fatalf("schedules %+v, want 1", got)
	}
	sc := got[0]
	ct := s.CiphertextBytes()
	if sc.Name != evSchedule || sc.Namespace != ctlNamespace || sc.BackupsTaken != 1 || sc.BackupsSealed != 1 || sc.BackupsFailed != 0 ||
		sc.FailedAttempts != 0 || sc.RetentionDeletions != 0 {
		t.Errorf("schedule %s/%s: taken %d, sealed %d, failed %d, failed attempts %d, deletions %d; want %s/%s 1, 1, 0, 0, 0",
			sc.Namespace, sc.Name, sc.BackupsTaken, sc.BackupsSealed, sc.BackupsFailed, sc.FailedAttempts, sc.RetentionDeletions, ctlNamespace, evSchedule)
	}
	if sc.SealedBytes != ct || sc.OffsiteBackups != 1 || sc.OffsiteBytes != ct {
		t.Errorf("schedule bytes: sealed %d, offsite %d in %d backups; want %d (the seal's ciphertext) in 1", sc.SealedBytes, sc.OffsiteBytes, sc.OffsiteBackups, ct)
	}
	if sc.LastSealed == nil || sc.LastSealed.Name != backup {
		t.Errorf("last sealed %+v, want %s", sc.LastSealed, backup)
	}
	var fps []string
	for _, r := range sc.Recipients {
		fps = append(fps, r.Fingerprint)
		if r.Backups != 1 {
			t.Errorf("recipient %s used by %d backups, want 1", r.Fingerprint, r.Backups)
		}
	}
	if slices.Sort(fps); !slices.Equal(fps, fingerprints) {
		t.Errorf("recipients %v, want %v", fps, fingerprints)
	}
	if len(sc.Backups) != 1 {
		t.Fatalf("backups %+v, want 1", sc.Backups)
	}
	b := sc.Backups[0]
	if b.Name != backup || b.Seq != 2 || b.Objects != len(s.Objects) || b.CiphertextBytes != ct || b.SealDigest != s.Digest() || b.Offsite != report.OffsiteVerified {
		t.Errorf("backup %+v, want %s at seq 2, %d objects, %d bytes, digest %s, verified", b, backup, len(s.Objects), ct, s.Digest())
	}
	if b.RetainUntil == nil || b.RetainUntil.Before(s.SealedAt.Add(23*time.Hour)) || b.RetainUntil.After(s.SealedAt.Add(25*time.Hour)) {
		t.Errorf("backup retained until %v, want a day after its seal at %v", b.RetainUntil, s.SealedAt)
	}
}

func evCheckDrills(t *testing.T, got []report.Drill, backup string, rto float64) {
	t.Helper()
	if len(got) != 1 {
		t.Fatalf("drills %+v, want 1", got)
	}
	d := got[0]
	if d.Name != evDrill || d.Namespace != ctlNamespace || d.Runs != 1 || d.Passed != 1 || d.Failed != 0 || d.PassRate != 1 ||
		d.LastPass == nil || d.MaxRTOSeconds != evMaxRTO.Seconds() || d.OverObjective != 0 {
		t.Errorf("drill %s/%s: runs %d, passed %d, failed %d, pass rate %v, last pass %v, objective %v, over %d; want 1, 1, 0, 1, set, %v, 0",
			d.Namespace, d.Name, d.Runs, d.Passed, d.Failed, d.PassRate, d.LastPass, d.MaxRTOSeconds, d.OverObjective, evMaxRTO.Seconds())
	}
	if len(d.RunList) != 1 {
		t.Fatalf("runs %+v, want 1", d.RunList)
	}
	r := d.RunList[0]
	if !r.Passed || r.Seq != 3 || r.Backup != backup || r.Schedule != evSchedule || math.Abs(r.RTOSeconds-rto) > 0.0005 || len(r.FailedChecks) != 0 {
		t.Errorf("run %+v, want passed at seq 3 on %s/%s with RTO %.3f s", r, evSchedule, backup, rto)
	}
	if len(d.Days) != 1 || d.Days[0].Passed != 1 || d.Days[0].Failed != 0 || d.Days[0].Date != r.Time.UTC().Format(time.DateOnly) {
		t.Errorf("days %+v, want one day with one pass", d.Days)
	}
}

// networkRef matches a reference the browser would fetch from the network:
// an attribute or CSS url() naming an absolute or scheme-relative URL.
var networkRef = regexp.MustCompile(`(?i)(\b(src|href|srcset|action|poster|data|xlink:href)\s*=\s*["']?\s*(https?:)?//)|url\(\s*["']?\s*(https?:)?//|@import`)

func evCheckHTML(t *testing.T, html, backup string, ciphertext int64, rto float64) {
	t.Helper()
	if loc := networkRef.FindStringIndex(html); loc != nil {
		t.Errorf("the HTML fetches from the network: %q", html[max(0, loc[0]-40):min(len(html), loc[1]+60)])
	}
	if !strings.Contains(html, `content="default-src 'none'`) {
		t.Errorf("the HTML has no Content-Security-Policy default-src 'none'")
	}
	if strings.Contains(strings.ToLower(html), "<script") {
		t.Errorf("the HTML holds a script")
	}
	drill := ctlNamespace + "/" + evDrill
	for _, re := range []string{
		`<tr class="schedule" data-schedule="` + evSchedule + `">[\s\S]*?class="num sealed" data-value="1"[\s\S]*?class="num failed" data-value="0"[\s\S]*?class="num offsite-bytes" data-value="` + strconv.FormatInt(ciphertext, 10) + `"`,
		`<tr class="backup" data-backup="` + regexp.QuoteMeta(backup) + `" data-offsite="verified">`,
		`<tr class="drill" data-drill="` + drill + `">[\s\S]*?class="num runs" data-value="1"[\s\S]*?class="num passed" data-value="1"[\s\S]*?class="num failed" data-value="0"[\s\S]*?class="num pass-rate" data-value="1.0000"`,
		`<svg class="rto-chart" data-drill="` + drill + `" data-points="1"`,
		`<polyline class="rto-objective" data-objective="600"`,
		`<svg class="calendar" data-drill="` + drill + `"`,
		`<p id="chain" data-checked="true" data-verified="true" data-entries="3" data-head-seq="3"`,
		`<p id="seals" data-checked="true" data-logged="1" data-verified="1" data-deleted="0" data-missing="0" data-mismatch="0" data-failed="0" data-damaged="0" data-unreadable="0" data-unlogged="0"`,
	} {
		if !regexp.MustCompile(re).MatchString(html) {
			t.Errorf("the HTML does not match %s", re)
		}
	}
	points := regexp.MustCompile(`<circle class="rto-point ([a-z ]+)"[^>]* data-rto="([0-9.e+]+)"`).FindAllStringSubmatch(html, -1)
	if len(points) != 1 || points[0][1] != "pass" {
		t.Fatalf("RTO points %q, want one passed", points)
	}
	if got, err := strconv.ParseFloat(points[0][2], 64); err != nil || math.Abs(got-rto) > 0.0005 {
		t.Errorf("RTO point %s, want %.3f", points[0][2], rto)
	}
	if days := regexp.MustCompile(`<rect class="day pass"[^>]* data-passed="1" data-failed="0"`).FindAllString(html, -1); len(days) != 1 {
		t.Errorf("%d passed days in the calendar, want 1", len(days))
	}
	if n := strings.Count(html, `<rect class="day `); n != strings.Count(html, `<rect class="day none"`)+1 {
		t.Errorf("the calendar has %d days, want all but one without runs", n)
	}
}

// evCheckLocked shows that the store's own credentials can write an
// unlocked object in the bucket but can neither overwrite nor delete the
// audit entry seq (its object and its claim): object lock refuses.
func evCheckLocked(t *testing.T, st storage.Store, seq uint64, hash string) {
	t.Helper()
	ctx := t.Context()
	put := func(key string, body []byte) error {
		_, err := st.Put(ctx, key, bytes.NewReader(body), storage.PutOptions{Size: int64(len(body))})
		return err
	}
	const probe = "tamper-probe"
	if err := errors.Join(put(probe, []byte("a")), put(probe, []byte("b")), st.Delete(ctx, probe)); err != nil {
		t.Fatalf("the credentials cannot rewrite an unlocked object, so a refusal below would prove nothing: %v", err)
	}
	for _, key := range []string{audit.EntryKey(seq, hash), audit.ClaimKey(seq)} {
		before := evGet(t, st, key)
		forged := bytes.Replace(before, []byte(`"passed":true`), []byte(`"passed":false`), 1)
		if bytes.Equal(forged, before) {
			t.Fatalf("%s holds no %q to forge", key, `"passed":true`)
		}
		if err := put(key, forged); !errors.Is(err, storage.ErrLocked) {
			t.Errorf("overwrite %s: %v, want %v", key, err, storage.ErrLocked)
		} else {
			t.Logf("overwrite refused: %v", err)
		}
		if err := st.Delete(ctx, key); !errors.Is(err, storage.ErrLocked) {
			t.Errorf("delete %s: %v, want %v", key, err, storage.ErrLocked)
		}
		if after := evGet(t, st, key); !bytes.Equal(after, before) {
			t.Errorf("%s changed despite the refusals", key)
		}
	}
}

func evGet(t *testing.T, st storage.Store, key string) []byte {
	t.Helper()
	r, _, err := st.Get(t.Context(), key)
	if err != nil {
		t.Fatalf("get %s: %v", key, err)
	}
	defer func() { _ = r.Close() }() // read-only
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatalf("read %s: %v", key, err)
	}
	return b
}
