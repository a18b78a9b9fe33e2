package schedule

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestParse(t *testing.T) {
	tests := []struct {
		spec, tz string
		wantErr  error  // nil: valid
		wantMsg  string // substring of the error
	}{
		{spec: "*/5 * * * *"},
		{spec: "0 3 * * mon-fri", tz: "Europe/Berlin"},
		{spec: "15,45 9-17 1,15 jan-jun *", tz: "America/New_York"},
		{spec: "0 0 * * ?"},
		{spec: "  0 0 * * *  "},
		{spec: "@hourly"},
		{spec: "@daily", tz: "UTC"},
		{spec: "@midnight"},
		{spec: "@weekly"},
		{spec: "@monthly"},
		{spec: "@yearly"},
		{spec: "@annually"},
		{spec: "0 12 29 2 *"}, // leap day: every four years
		{spec: "0 0 31 * *"},  // skips short months

		{spec: "", wantErr: ErrInvalidSchedule, wantMsg: `spec.schedule "": must not be empty`},
		{spec: "   ", wantErr: ErrInvalidSchedule, wantMsg: "must not be empty"},
		{spec: "* * * *", wantErr: ErrInvalidSchedule, wantMsg: "expected exactly 5 fields"},
		{spec: "0 * * * * *", wantErr: ErrInvalidSchedule, wantMsg: "want 5 fields"},
		{spec: "CRON_TZ=UTC 0 * * * *", wantErr: ErrInvalidSchedule, wantMsg: "set spec.timeZone instead"},
		{spec: "TZ=Europe/Berlin 0 * * * *", wantErr: ErrInvalidSchedule, wantMsg: "must not contain TZ="},
		{spec: "CRON_TZ=Asia/Tokyo", wantErr: ErrInvalidSchedule, wantMsg: "TZ"}, // panics in robfig/cron
		{spec: "cron_tz=UTC 0 * * * *", wantErr: ErrInvalidSchedule, wantMsg: "TZ"},
		{spec: "@every 1h", wantErr: ErrInvalidSchedule, wantMsg: "@every is not supported"},
		{spec: "@every", wantErr: ErrInvalidSchedule, wantMsg: "@every is not supported"},
		{spec: "@reboot", wantErr: ErrInvalidSchedule, wantMsg: "unrecognized descriptor"},
		{spec: "@daily 0", wantErr: ErrInvalidSchedule, wantMsg: "unrecognized descriptor"},
		{spec: "60 * * * *", wantErr: ErrInvalidSchedule, wantMsg: "above maximum"},
		{spec: "61 * * * *", wantErr: ErrInvalidSchedule, wantMsg: `spec.schedule "61 * * * *": minute "61": end of range (61) above maximum (59) (the minute field takes 0-59)`},
		{spec: "0 0 * * MON-FRY", wantErr: ErrInvalidSchedule, wantMsg: `day of week "MON-FRY"`},
		{spec: "0 0 * 0 *", wantErr: ErrInvalidSchedule, wantMsg: `month "0"`},
		{spec: "0 24 * * *", wantErr: ErrInvalidSchedule, wantMsg: "above maximum"},
		{spec: "0 0 32 * *", wantErr: ErrInvalidSchedule, wantMsg: "above maximum"},
		{spec: "0 0 0 * *", wantErr: ErrInvalidSchedule, wantMsg: "below minimum"},
		{spec: "0 0 * 13 *", wantErr: ErrInvalidSchedule, wantMsg: "above maximum"},
		{spec: "0 0 * * 7", wantErr: ErrInvalidSchedule, wantMsg: "above maximum"}, // 0 is Sunday
		{spec: "*/0 * * * *", wantErr: ErrInvalidSchedule, wantMsg: "step"},
		{spec: "a b c d e", wantErr: ErrInvalidSchedule, wantMsg: "spec.schedule \"a b c d e\""},
		{spec: "0 0 30 2 *", wantErr: ErrInvalidSchedule, wantMsg: "never matches a date"},
		{spec: "0 0 31 4,6,9,11 *", wantErr: ErrInvalidSchedule, wantMsg: "never matches a date"},

		{spec: "@daily", tz: "Local", wantErr: ErrInvalidTimeZone, wantMsg: `spec.timeZone "Local": must be an explicit IANA time zone`},
		{spec: "@daily", tz: "local", wantErr: ErrInvalidTimeZone, wantMsg: "not Local"},
		{spec: "@daily", tz: "Mars/Olympus_Mons", wantErr: ErrInvalidTimeZone, wantMsg: `spec.timeZone "Mars/Olympus_Mons": unknown time zone`},
		{spec: "@daily", tz: "America/New York", wantErr: ErrInvalidTimeZone, wantMsg: "unknown time zone"},
		{spec: "@daily", tz: "../../etc/passwd", wantErr: ErrInvalidTimeZone, wantMsg: "unknown time zone"},
		{spec: "@daily", tz: "/etc/localtime", wantErr: ErrInvalidTimeZone, wantMsg: "unknown time zone"},
		// The time zone is checked first; both being wrong reports the zone.
		{spec: "nonsense", tz: "Nowhere/Nothing", wantErr: ErrInvalidTimeZone},
	}
	for _, tt := range tests {
		t.Run(tt.spec+"|"+tt.tz, func(t *testing.T) {
			s, err := Parse(tt.spec, tt.tz)
			if tt.wantErr == nil {
				if err != nil {
					t.Fatalf("Parse(%q, %q) = %v, want success", tt.spec, tt.tz, err)
				}
				if s.String() != tt.spec {
					t.Errorf("String() = %q, want %q", s.String(), tt.spec)
				}
				wantLoc := tt.tz
				if wantLoc == "" {
					wantLoc = "UTC"
				}
				if s.Location().String() != wantLoc {
					t.Errorf("Location() = %v, want %s", s.Location(), wantLoc)
				}
				return
			}
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("Parse(%q, %q) = %v, want an error wrapping %v", tt.spec, tt.tz, err, tt.wantErr)
			}
			var fe *FieldError
			if !errors.As(err, &fe) {
				t.Fatalf("error %v is not a *FieldError", err)
			}
			if wantField := map[error]string{ErrInvalidSchedule: FieldSchedule, ErrInvalidTimeZone: FieldTimeZone}[tt.wantErr]; fe.Field != wantField {
				t.Errorf("Field = %q, want %q", fe.Field, wantField)
			}
			if !strings.Contains(err.Error(), tt.wantMsg) {
				t.Errorf("error %q does not contain %q", err, tt.wantMsg)
			}
		})
	}
}

// mustParse parses or fails the test.
func mustParse(t testing.TB, spec, tz string) Schedule {
	t.Helper()
	s, err := Parse(spec, tz)
	if err != nil {
		t.Fatalf("Parse(%q, %q): %v", spec, tz, err)
	}
	return s
}

// at parses an RFC 3339 time or fails the test.
func at(t testing.TB, s string) time.Time {
	t.Helper()
	tm, err := time.Parse(time.RFC3339, s)
	if err != nil {
		t.Fatal(err)
	}
	return tm
}

func TestNext(t *testing.T) {
	tests := []struct {
		name, spec, tz string
		after          string
		want           []string // successive times, RFC 3339 (any offset)
	}{
		{
			name: "minutely from mid-minute", spec: "* * * * *",
			after: "2026-01-01T10:00:30Z",
			want:  []string{"2026-01-01T10:01:00Z", "2026-01-01T10:02:00Z"},
		},
		{
			name: "strictly after a scheduled time", spec: "0 * * * *",
			after: "2026-01-01T10:00:00Z",
			want:  []string{"2026-01-01T11:00:00Z"},
		},
		{
			name: "sub-second after a scheduled time", spec: "0 * * * *",
			after: "2026-01-01T10:59:59.999Z",
			want:  []string{"2026-01-01T11:00:00Z"},
		},
		{
			name: "31st skips short months", spec: "0 0 31 * *",
			after: "2026-01-31T00:00:00Z",
			want:  []string{"2026-03-31T00:00:00Z", "2026-05-31T00:00:00Z", "2026-07-31T00:00:00Z", "2026-08-31T00:00:00Z"},
		},
		{
			name: "monthly crosses year end", spec: "@monthly",
			after: "2026-12-15T00:00:00Z",
			want:  []string{"2027-01-01T00:00:00Z", "2027-02-01T00:00:00Z"},
		},
		{
			name: "30th skips February", spec: "0 6 30 * *",
			after: "2026-01-30T06:00:00Z",
			want:  []string{"2026-03-30T06:00:00Z"},
		},
		{
			name: "leap day", spec: "0 12 29 2 *",
			after: "2024-02-29T12:00:00Z",
			want:  []string{"2028-02-29T12:00:00Z", "2032-02-29T12:00:00Z"},
		},
		{
			name: "yearly", spec: "@yearly", tz: "Europe/Berlin",
			after: "2026-06-01T00:00:00Z",
			want:  []string{"2027-01-01T00:00:00+01:00"},
		},
		{
			name: "day of month or day of week", spec: "0 0 13 * fri",
			after: "2026-02-01T00:00:00Z",
			want:  []string{"2026-02-06T00:00:00Z", "2026-02-13T00:00:00Z", "2026-02-20T00:00:00Z", "2026-02-27T00:00:00Z", "2026-03-06T00:00:00Z", "2026-03-13T00:00:00Z"},
		},
		{
			name: "weekly is Sunday midnight", spec: "@weekly", tz: "America/New_York",
			after: "2026-01-07T12:00:00Z", // a Wednesday
			want:  []string{"2026-01-11T00:00:00-05:00"},
		},
		{
			name: "wall clock in zone, winter and summer", spec: "0 9 * * *", tz: "America/New_York",
			after: "2026-03-06T00:00:00Z",
			want:  []string{"2026-03-06T14:00:00Z", "2026-03-07T14:00:00Z", "2026-03-08T13:00:00Z"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := mustParse(t, tt.spec, tt.tz)
			cur, _ := time.Parse(time.RFC3339Nano, tt.after)
			for i, w := range tt.want {
				got := s.Next(cur)
				if want := at(t, w); !got.Equal(want) {
					t.Fatalf("Next #%d after %s = %s, want %s", i+1, cur, got.In(s.Location()), want)
				}
				if got.Location() != cur.Location() {
					t.Errorf("Next returned location %v, want the argument's %v", got.Location(), cur.Location())
				}
				cur = got
			}
		})
	}
}

// TestDaylightSaving pins robfig/cron's behaviour at clock changes, which
// the package documentation promises: a wall time that does not exist is
// skipped, one that occurs twice runs twice.
func TestDaylightSaving(t *testing.T) {
	tests := []struct {
		name, spec, tz string
		from, to       string
		want           []string // every run in (from, to]
	}{
		{
			name: "New York spring forward skips 02:30", spec: "30 2 * * *", tz: "America/New_York",
			from: "2026-03-07T00:00:00-05:00", to: "2026-03-10T00:00:00-04:00",
			want: []string{"2026-03-07T02:30:00-05:00", "2026-03-09T02:30:00-04:00"},
		},
		{
			name: "New York fall back runs 02:30 once", spec: "30 2 * * *", tz: "America/New_York",
			from: "2026-10-31T00:00:00-04:00", to: "2026-11-03T00:00:00-05:00",
			want: []string{"2026-10-31T02:30:00-04:00", "2026-11-01T02:30:00-05:00", "2026-11-02T02:30:00-05:00"},
		},
		{
			name: "New York fall back runs 01:30 twice", spec: "30 1 * * *", tz: "America/New_York",
			from: "2026-10-31T12:00:00-04:00", to: "2026-11-02T12:00:00-05:00",
			want: []string{"2026-11-01T01:30:00-04:00", "2026-11-01T01:30:00-05:00", "2026-11-02T01:30:00-05:00"},
		},
		{
			name: "New York hourly has a 23-hour day", spec: "0 * * * *", tz: "America/New_York",
			from: "2026-03-08T00:30:00-05:00", to: "2026-03-08T04:30:00-04:00",
			want: []string{"2026-03-08T01:00:00-05:00", "2026-03-08T03:00:00-04:00", "2026-03-08T04:00:00-04:00"},
		},
		{
			name: "Berlin spring forward skips 02:30", spec: "30 2 * * *", tz: "Europe/Berlin",
			from: "2026-03-28T00:00:00+01:00", to: "2026-03-31T00:00:00+02:00",
			want: []string{"2026-03-28T02:30:00+01:00", "2026-03-30T02:30:00+02:00"},
		},
		{
			name: "Berlin fall back runs 02:30 twice", spec: "30 2 * * *", tz: "Europe/Berlin",
			from: "2026-10-24T12:00:00+02:00", to: "2026-10-26T12:00:00+01:00",
			want: []string{"2026-10-25T02:30:00+02:00", "2026-10-25T02:30:00+01:00", "2026-10-26T02:30:00+01:00"},
		},
		{
			name: "Berlin hourly has a 25-hour day", spec: "0 * * * *", tz: "Europe/Berlin",
			from: "2026-10-25T01:30:00+02:00", to: "2026-10-25T03:30:00+01:00",
			want: []string{"2026-10-25T02:00:00+02:00", "2026-10-25T02:00:00+01:00", "2026-10-25T03:00:00+01:00"},
		},
		{
			name: "UTC has no clock change", spec: "30 2 * * *",
			from: "2026-03-28T00:00:00Z", to: "2026-03-31T00:00:00Z",
			want: []string{"2026-03-28T02:30:00Z", "2026-03-29T02:30:00Z", "2026-03-30T02:30:00Z"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := mustParse(t, tt.spec, tt.tz)
			to := at(t, tt.to)
			var got []string
			for tm := s.Next(at(t, tt.from)); !tm.After(to); tm = s.Next(tm) {
				got = append(got, tm.In(s.Location()).Format(time.RFC3339))
			}
			if strings.Join(got, " ") != strings.Join(tt.want, " ") {
				t.Errorf("runs:\n got %v\nwant %v", got, tt.want)
			}
		})
	}
}
