// Package schedule computes when cron-scheduled runs are due. It is pure:
// callers pass the current time (from a clock they can replace in tests) and
// the times they recorded, and get back what to start and when to look again.
//
// # Syntax
//
// Parse accepts a standard 5-field cron expression (minute, hour, day of
// month, month, day of week, with names such as jan or mon, ranges, lists
// and steps) and the descriptors @yearly, @annually, @monthly, @weekly,
// @daily, @midnight and @hourly, as Kubernetes CronJob does. When both day
// of month and day of week are restricted, a day matching either runs (the
// cron rule).
//
// @every DURATION is rejected. It is not standard cron: it fires at
// intervals from an arbitrary origin rather than on the clock, so missed
// times could not be computed from a recorded time the way they are for
// every other form. Write the interval as cron fields ("*/15 * * * *").
//
// A TZ= or CRON_TZ= prefix is rejected: the time zone is a separate field
// (see Parse), as in a CronJob's spec.timeZone.
//
// # Time zones and daylight saving
//
// Times are matched against the wall clock of the schedule's time zone,
// with github.com/robfig/cron/v3's rules:
//   - spring forward: a wall time that does not exist that day is skipped.
//     A 02:30 daily job in America/New_York or Europe/Berlin does not run at
//     all on the day clocks jump from 02:00 to 03:00.
//   - fall back: a wall time that occurs twice runs twice. A 01:30 job in
//     America/New_York (clocks go from 02:00 back to 01:00) and a 02:30 job
//     in Europe/Berlin (03:00 back to 02:00) run twice that day, an hour
//     apart. A 02:30 job in America/New_York runs once, since 02:30 occurs
//     once there.
//
// Schedules that must run exactly once a day should avoid the hours the
// zone's clocks change, or use UTC.
package schedule

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/robfig/cron/v3"
)

// Field names used in errors, as in the spec of a BackupSchedule.
const (
	FieldSchedule = "spec.schedule"
	FieldTimeZone = "spec.timeZone"
)

// Sentinel errors, wrapped by every error Parse returns.
var (
	// ErrInvalidSchedule: the cron expression is not accepted.
	ErrInvalidSchedule = errors.New("invalid schedule")
	// ErrInvalidTimeZone: the time zone is not a known IANA name.
	ErrInvalidTimeZone = errors.New("invalid time zone")
)

// FieldError says which field is wrong and why. Its message is fit for a
// condition: it names the field, quotes the value and says what to do.
type FieldError struct {
	// Field is FieldSchedule or FieldTimeZone.
	Field string
	// Value is the rejected value.
	Value string
	// Detail says what is wrong.
	Detail string
	// Err is ErrInvalidSchedule or ErrInvalidTimeZone.
	Err error
}

func (e *FieldError) Error() string {
	return fmt.Sprintf("%s %q: %s", e.Field, e.Value, e.Detail)
}

func (e *FieldError) Unwrap() error { return e.Err }

// Schedule is a parsed cron expression in a time zone. The zero value is not
// usable; get one from Parse.
type Schedule struct {
	spec string
	loc  *time.Location
	cron *cron.SpecSchedule
}

// parser reads 5 fields and the descriptors; the prefixes and @every are
// refused before it sees them.
var parser = cron.NewParser(cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)

// neverFrom is where Parse looks for a first run, to reject expressions that
// can never fire (such as 0 0 30 2 *). It is early in a leap year so that a
// Feb 29 schedule is found.
var neverFrom = time.Date(2024, time.January, 1, 0, 0, 0, 0, time.UTC)

// Parse reads spec in the IANA time zone tz; "" means UTC and "Local" is
// refused (a controller's local zone is an accident of where it runs).
// Errors are *FieldError wrapping ErrInvalidSchedule or ErrInvalidTimeZone.
func Parse(spec, tz string) (Schedule, error) {
	loc, err := loadLocation(tz)
	if err != nil {
		return Schedule{}, err
	}
	cs, err := parseSpec(spec)
	if err != nil {
		return Schedule{}, err
	}
	cs.Location = loc
	s := Schedule{spec: spec, loc: loc, cron: cs}
	if s.Next(neverFrom).IsZero() {
		return Schedule{}, scheduleError(spec, "never matches a date (check day of month against month)")
	}
	return s, nil
}

func loadLocation(tz string) (*time.Location, error) {
	switch {
	case tz == "":
		return time.UTC, nil
	case strings.EqualFold(tz, "Local"):
		return nil, &FieldError{Field: FieldTimeZone, Value: tz, Err: ErrInvalidTimeZone,
			Detail: "must be an explicit IANA time zone such as America/New_York, not Local"}
	}
	loc, err := time.LoadLocation(tz)
	if err != nil {
		return nil, &FieldError{Field: FieldTimeZone, Value: tz, Err: ErrInvalidTimeZone,
			Detail: "unknown time zone: use an IANA name such as UTC, Europe/Berlin or America/New_York"}
	}
	return loc, nil
}

func parseSpec(spec string) (*cron.SpecSchedule, error) {
	trimmed := strings.TrimSpace(spec)
	switch {
	case trimmed == "":
		return nil, scheduleError(spec, "must not be empty")
	case strings.Contains(strings.ToUpper(trimmed), "TZ"):
		return nil, scheduleError(spec, "must not contain TZ= or CRON_TZ=: set "+FieldTimeZone+" instead")
	case strings.HasPrefix(trimmed, "@every"):
		return nil, scheduleError(spec, `@every is not supported: write the interval as cron fields, such as "*/15 * * * *"`)
	}
	parsed, err := parser.Parse(trimmed)
	if err != nil && !strings.HasPrefix(trimmed, "@") && len(strings.Fields(trimmed)) == 5 {
		return nil, scheduleError(spec, fieldProblem(strings.Fields(trimmed), err))
	}
	if err != nil {
		return nil, scheduleError(spec, "want 5 fields (minute hour day-of-month month day-of-week) or @hourly, @daily, @weekly, @monthly, @yearly: "+err.Error())
	}
	cs, ok := parsed.(*cron.SpecSchedule)
	if !ok { // only @every yields another type, and it is refused above
		return nil, scheduleError(spec, "unsupported form")
	}
	return cs, nil
}

// cronFields name the five fields and their ranges, in order.
var cronFields = [5]struct{ name, values string }{
	{"minute", "0-59"}, {"hour", "0-23"}, {"day of month", "1-31"},
	{"month", "1-12 or JAN-DEC"}, {"day of week", "0-6 (Sunday is 0) or SUN-SAT"},
}

// fieldProblem names the first of five fields that does not parse, with
// what it may hold; err is the parser's error for the whole expression.
func fieldProblem(fields []string, err error) string {
	for i, f := range fields {
		probe := []string{"*", "*", "*", "*", "*"}
		probe[i] = f
		if _, ferr := parser.Parse(strings.Join(probe, " ")); ferr != nil {
			c := cronFields[i]
			return fmt.Sprintf("%s %q: %s (the %s field takes %s)", c.name, f, strings.TrimSuffix(ferr.Error(), ": "+f), c.name, c.values)
		}
	}
	return err.Error()
}

func scheduleError(spec, detail string) error {
	return &FieldError{Field: FieldSchedule, Value: spec, Detail: detail, Err: ErrInvalidSchedule}
}

// String returns the expression as given to Parse.
func (s Schedule) String() string { return s.spec }

// Location returns the time zone the schedule is read in.
func (s Schedule) Location() *time.Location { return s.loc }

// Next returns the first scheduled time strictly after t, in t's location.
// It returns the zero time if there is none within five years (possible only
// for a Feb 29 schedule across a century year that is not a leap year).
func (s Schedule) Next(t time.Time) time.Time {
	return s.cron.Next(t)
}
