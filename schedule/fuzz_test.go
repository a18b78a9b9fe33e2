package schedule

import (
	"errors"
	"testing"
	"time"
)

// FuzzParse checks that Parse never panics, that every error is a
// *FieldError naming a field, and that an accepted schedule moves forward.
func FuzzParse(f *testing.F) {
	for _, seed := range []struct{ spec, tz string }{
		{"*/5 * * * *", ""}, {"0 3 * * mon-fri", "Europe/Berlin"}, {"@daily", "America/New_York"},
		{"CRON_TZ=Asia/Tokyo", ""}, {"TZ=", ""}, {"@every 1h", ""}, {"0 0 30 2 *", ""},
		{"1-5/2,*/3 0 ? jan-dec sun", "UTC"}, {"@", ""}, {"- - - - -", ""}, {"0 0 * * *", "Local"},
	} {
		f.Add(seed.spec, seed.tz)
	}
	from := time.Date(2026, time.March, 8, 1, 59, 30, 0, time.UTC)
	f.Fuzz(func(t *testing.T, spec, tz string) {
		s, err := Parse(spec, tz)
		if err != nil {
			var fe *FieldError
			if !errors.As(err, &fe) || (fe.Field != FieldSchedule && fe.Field != FieldTimeZone) {
				t.Fatalf("Parse(%q, %q) error %v is not a *FieldError on a known field", spec, tz, err)
			}
			if !errors.Is(err, ErrInvalidSchedule) && !errors.Is(err, ErrInvalidTimeZone) {
				t.Fatalf("Parse(%q, %q) error %v wraps no sentinel", spec, tz, err)
			}
			return
		}
		if next := s.Next(from); !next.IsZero() && !next.After(from) {
			t.Fatalf("Parse(%q, %q).Next(%s) = %s", spec, tz, from, next)
		}
	})
}
