package schedule

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"
)

func TestDue(t *testing.T) {
	minutes := func(n int) *time.Duration { d := time.Duration(n) * time.Minute; return &d }
	tests := []struct {
		name, spec, tz    string
		now, last, create string // RFC 3339; "" is the zero time
		deadline          *time.Duration
		wantDue           string // "" means nil
		wantMissed        int
		wantNext          string
	}{
		{
			name: "new schedule, first time not reached", spec: "0 * * * *",
			create: "2026-05-01T10:30:00Z", now: "2026-05-01T10:59:59Z",
			wantNext: "2026-05-01T11:00:00Z",
		},
		{
			name: "new schedule, first time reached exactly", spec: "0 * * * *",
			create: "2026-05-01T10:30:00Z", now: "2026-05-01T11:00:00Z",
			wantDue: "2026-05-01T11:00:00Z", wantMissed: 1, wantNext: "2026-05-01T12:00:00Z",
		},
		{
			name: "created on a scheduled time does not run it", spec: "0 * * * *",
			create: "2026-05-01T11:00:00Z", now: "2026-05-01T11:00:20Z",
			wantNext: "2026-05-01T12:00:00Z",
		},
		{
			name: "just ran", spec: "0 * * * *",
			create: "2026-05-01T08:00:00Z", last: "2026-05-01T11:00:00Z", now: "2026-05-01T11:00:30Z",
			wantNext: "2026-05-01T12:00:00Z",
		},
		{
			name: "last schedule time wins over creation", spec: "0 * * * *",
			create: "2026-04-01T00:00:00Z", last: "2026-05-01T11:00:00Z", now: "2026-05-01T12:00:05Z",
			wantDue: "2026-05-01T12:00:00Z", wantMissed: 1, wantNext: "2026-05-01T13:00:00Z",
		},
		{
			name: "outage: most recent of three missed, no deadline", spec: "0 * * * *",
			last: "2026-05-01T11:00:00Z", now: "2026-05-01T14:10:00Z",
			wantDue: "2026-05-01T14:00:00Z", wantMissed: 3, wantNext: "2026-05-01T15:00:00Z",
		},
		{
			name: "outage: within deadline", spec: "0 * * * *",
			last: "2026-05-01T11:00:00Z", now: "2026-05-01T14:10:00Z", deadline: minutes(15),
			wantDue: "2026-05-01T14:00:00Z", wantMissed: 3, wantNext: "2026-05-01T15:00:00Z",
		},
		{
			name: "deadline boundary is inclusive", spec: "0 * * * *",
			last: "2026-05-01T11:00:00Z", now: "2026-05-01T14:10:00Z", deadline: minutes(10),
			wantDue: "2026-05-01T14:00:00Z", wantMissed: 3, wantNext: "2026-05-01T15:00:00Z",
		},
		{
			name: "deadline expired for every missed time", spec: "0 * * * *",
			last: "2026-05-01T11:00:00Z", now: "2026-05-01T14:10:01Z", deadline: minutes(10),
			wantMissed: 3, wantNext: "2026-05-01T15:00:00Z",
		},
		{
			name: "zero deadline starts only on time", spec: "0 * * * *",
			last: "2026-05-01T13:00:00Z", now: "2026-05-01T14:00:00Z", deadline: minutes(0),
			wantDue: "2026-05-01T14:00:00Z", wantMissed: 1, wantNext: "2026-05-01T15:00:00Z",
		},
		{
			name: "last schedule time in the future (clock skew)", spec: "0 * * * *",
			last: "2026-05-01T15:00:00Z", now: "2026-05-01T14:10:00Z",
			wantNext: "2026-05-01T15:00:00Z",
		},
		{
			name: "no reference time", spec: "0 * * * *",
			now: "2026-05-01T14:10:00Z", wantNext: "2026-05-01T15:00:00Z",
		},
		{
			name: "daily across New York spring forward: the skipped day is not missed",
			spec: "30 2 * * *", tz: "America/New_York",
			last: "2026-03-07T02:30:00-05:00", now: "2026-03-09T03:00:00-04:00",
			wantDue: "2026-03-09T02:30:00-04:00", wantMissed: 1, wantNext: "2026-03-10T02:30:00-04:00",
		},
		{
			name: "Berlin fall back: second 02:30 is due after the first",
			spec: "30 2 * * *", tz: "Europe/Berlin",
			last: "2026-10-25T02:30:00+02:00", now: "2026-10-25T02:45:00+01:00",
			wantDue: "2026-10-25T02:30:00+01:00", wantMissed: 1, wantNext: "2026-10-26T02:30:00+01:00",
		},
		{
			name: "Berlin fall back: between the two 02:30s nothing is due",
			spec: "30 2 * * *", tz: "Europe/Berlin",
			last: "2026-10-25T02:30:00+02:00", now: "2026-10-25T02:10:00+01:00",
			wantNext: "2026-10-25T02:30:00+01:00",
		},
		{
			name: "monthly on the 31st across short months", spec: "0 0 31 * *",
			last: "2026-01-31T00:00:00Z", now: "2026-04-30T23:59:00Z",
			wantDue: "2026-03-31T00:00:00Z", wantMissed: 1, wantNext: "2026-05-31T00:00:00Z",
		},
		{
			name: "leap day after four years", spec: "0 12 29 2 *",
			last: "2024-02-29T12:00:00Z", now: "2028-02-29T12:00:00Z",
			wantDue: "2028-02-29T12:00:00Z", wantMissed: 1, wantNext: "2032-02-29T12:00:00Z",
		},
		{
			name: "a year of minutely runs missed: count capped, latest found",
			spec: "* * * * *",
			last: "2025-05-01T00:00:00Z", now: "2026-05-01T14:10:30Z",
			wantDue: "2026-05-01T14:10:00Z", wantMissed: MaxMissed, wantNext: "2026-05-01T14:11:00Z",
		},
		{
			name: "capped count with deadline expired", spec: "* * * * *",
			last: "2025-05-01T00:00:00Z", now: "2026-05-01T14:10:30Z", deadline: minutes(0),
			wantMissed: MaxMissed, wantNext: "2026-05-01T14:11:00Z",
		},
		{
			name: "exactly MaxMissed missed is not capped", spec: "* * * * *",
			last: "2026-05-01T10:00:00Z", now: "2026-05-01T11:40:00Z",
			wantDue: "2026-05-01T11:40:00Z", wantMissed: 100, wantNext: "2026-05-01T11:41:00Z",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := mustParse(t, tt.spec, tt.tz)
			opt := func(v string) time.Time {
				if v == "" {
					return time.Time{}
				}
				return at(t, v)
			}
			due, missed, next := s.Due(at(t, tt.now), opt(tt.last), opt(tt.create), tt.deadline)
			switch {
			case tt.wantDue == "" && due != nil:
				t.Errorf("due = %s, want none", due.In(s.Location()))
			case tt.wantDue != "" && due == nil:
				t.Errorf("due = none, want %s", tt.wantDue)
			case tt.wantDue != "" && !due.Equal(at(t, tt.wantDue)):
				t.Errorf("due = %s, want %s", due.In(s.Location()), tt.wantDue)
			}
			if missed != tt.wantMissed {
				t.Errorf("missed = %d, want %d", missed, tt.wantMissed)
			}
			if !next.Equal(at(t, tt.wantNext)) {
				t.Errorf("next = %s, want %s", next.In(s.Location()), tt.wantNext)
			}
		})
	}
}

// TestDueMatchesBruteForce checks Due against walking every scheduled time,
// over random schedules, zones and outages, including outages long enough
// to cap the count (which switches Due to bisection).
func TestDueMatchesBruteForce(t *testing.T) {
	specs := []string{
		"* * * * *", "*/7 * * * *", "* 0-5 * * *", "30 2 * * *", "0 1,13 * * mon-fri",
		"* * 1 * *", "15 */3 * * *", "0 0 31 * *", "59 23 * * 0", "*/10 1-2 * * *",
	}
	zones := []string{"", "America/New_York", "Europe/Berlin", "Asia/Kathmandu", "Australia/Lord_Howe"}
	rng := rand.New(rand.NewPCG(1, 2))
	base := time.Date(2026, time.January, 1, 0, 0, 0, 0, time.UTC)
	capped := 0
	for i := range 120 {
		spec, tz := specs[rng.IntN(len(specs))], zones[rng.IntN(len(zones))]
		s := mustParse(t, spec, tz)
		last := base.Add(time.Duration(rng.Int64N(int64(365 * 24 * time.Hour)))).Truncate(time.Second)
		now := last.Add(time.Duration(rng.Int64N(int64(3 * 24 * time.Hour))))

		var want time.Time
		n := 0
		for tm := s.Next(last); !tm.After(now); tm = s.Next(tm) {
			want, n = tm, n+1
		}
		if n > MaxMissed {
			capped++
		}
		due, missed, _ := s.Due(now, last, time.Time{}, nil)
		if wantMissed := min(n, MaxMissed); missed != wantMissed {
			t.Fatalf("#%d %q in %q, last %s now %s: missed = %d, want %d", i, spec, tz, last, now, missed, wantMissed)
		}
		switch {
		case n == 0 && due != nil:
			t.Fatalf("#%d %q in %q, last %s now %s: due = %s, want none", i, spec, tz, last, now, due)
		case n > 0 && (due == nil || !due.Equal(want)):
			t.Fatalf("#%d %q in %q, last %s now %s: due = %v, want %s", i, spec, tz, last, now, due, want)
		}
	}
	if capped < 10 {
		t.Errorf("only %d cases went past MaxMissed; the bisection is barely tested", capped)
	}
}

func TestNextIsStrictlyLater(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for _, tz := range []string{"America/New_York", "Europe/Berlin", "Australia/Lord_Howe", "America/Sao_Paulo"} {
		for _, spec := range []string{"30 1 * * *", "0 2 * * *", "*/30 0-3 * * *", "0 0 * * *"} {
			s := mustParse(t, spec, tz)
			tm := time.Date(2000, time.January, 1, 0, 0, 0, 0, time.UTC)
			for range 800 {
				next := s.Next(tm)
				if !next.After(tm) {
					t.Fatalf("%q in %s: Next(%s) = %s, not later", spec, tz, tm, next)
				}
				tm = next.Add(time.Duration(rng.Int64N(int64(3 * time.Hour))))
			}
		}
	}
}

func BenchmarkDueYearOutage(b *testing.B) {
	s := mustParse(b, "* * * * *", "Europe/Berlin")
	last := time.Date(2025, time.May, 1, 0, 0, 0, 0, time.UTC)
	now := last.AddDate(1, 0, 0)
	for b.Loop() {
		s.Due(now, last, time.Time{}, nil)
	}
}

func ExampleSchedule_Due() {
	s, err := Parse("0 2 * * *", "Europe/Berlin")
	if err != nil {
		panic(err)
	}
	last := time.Date(2026, time.May, 1, 2, 0, 0, 0, s.Location())
	now := time.Date(2026, time.May, 4, 9, 0, 0, 0, s.Location()) // back after an outage
	deadline := 12 * time.Hour
	due, missed, next := s.Due(now, last, time.Time{}, &deadline)
	fmt.Println("start run for", due.Format(time.DateTime), "missed", missed)
	fmt.Println("requeue after", next.Sub(now))
	// Output:
	// start run for 2026-05-04 02:00:00 missed 3
	// requeue after 17h0m0s
}
