package backupschedule

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/safekeep-dev/safekeep/schedule"
	"github.com/safekeep-dev/safekeep/seal"
	"github.com/safekeep-dev/safekeep/storage"
)

func TestCronInterval(t *testing.T) {
	at := func(s string) time.Time {
		v, err := time.Parse(time.RFC3339, s)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	for _, tc := range []struct {
		spec string
		now  string
		want time.Duration
	}{
		{"0 2 * * *", "2025-03-05T12:00:00Z", 24 * time.Hour},
		{"*/5 * * * *", "2025-03-05T12:07:00Z", 5 * time.Minute},
		{"0 2 * * *", "2025-03-05T02:00:00Z", 24 * time.Hour}, // exactly at a run
		// Weekdays: on Saturday the interval is Friday to Monday.
		{"0 1 * * 1-5", "2025-03-08T12:00:00Z", 72 * time.Hour},
		{"0 1 * * 1-5", "2025-03-05T12:00:00Z", 24 * time.Hour},
		{"0 0 1 1 *", "2025-06-01T00:00:00Z", 365 * 24 * time.Hour},
		{"0 0 29 2 *", "2025-06-01T00:00:00Z", (365*3 + 366) * 24 * time.Hour},
	} {
		s, err := schedule.Parse(tc.spec, "UTC")
		if err != nil {
			t.Fatal(err)
		}
		now := at(tc.now)
		if got := cronInterval(s, now, s.Next(now)); got != tc.want {
			t.Errorf("cronInterval(%q at %s) = %s, want %s", tc.spec, tc.now, got, tc.want)
		}
	}
}

func TestSealFailureReason(t *testing.T) {
	for err, want := range map[error]string{
		fmt.Errorf("x: %w", seal.ErrSealConflict):       "conflict",
		fmt.Errorf("x: %w", seal.ErrLockUnavailable):    "lock_unavailable",
		fmt.Errorf("x: %w", seal.ErrNotCompleted):       "source",
		fmt.Errorf("put: %w", storage.ErrAccessDenied):  "access_denied",
		fmt.Errorf("put: %w", storage.ErrBucketMissing): "bucket_missing",
		fmt.Errorf("get: %w", context.DeadlineExceeded): "timeout",
		fmt.Errorf("dial tcp 10.0.0.1:443: refused"):    "error",
	} {
		if got := sealFailureReason(err); got != want {
			t.Errorf("sealFailureReason(%v) = %s, want %s", err, got, want)
		}
	}
}
