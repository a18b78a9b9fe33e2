package schedule

import "time"

// MaxMissed bounds how many missed times Due counts. Beyond it Due finds the
// most recent one by bisection rather than by walking every time in between:
// a minutely schedule after a year's outage costs about 130 calls to Next
// (about a millisecond).
const MaxMissed = 100

// Due says what to do at now, for a schedule that last started a run for
// the scheduled time lastScheduleTime (zero if it never ran) and was created
// at creationTime.
//
// Missed times are the scheduled times after lastScheduleTime (or after
// creationTime when it never ran) up to and including now; missed counts
// them, capped at MaxMissed. due is the most recent of them, provided it is
// within startingDeadline of now (nil means no deadline); it is nil when
// nothing is missed or the most recent missed time is too late to start.
// Only one run is ever due: older missed times are skipped, as a CronJob
// skips them. So after an outage at most one missed run starts, and
// due == nil with missed > 0 means the deadline passed for all of them.
//
// next is the first scheduled time strictly after now: the time to look
// again. It is zero only when the schedule has no time within five years.
//
// A lastScheduleTime or creationTime after now (clock skew) misses nothing.
// When both are zero there is no reference and nothing is missed.
func (s Schedule) Due(now, lastScheduleTime, creationTime time.Time, startingDeadline *time.Duration) (due *time.Time, missed int, next time.Time) {
	next = s.Next(now)
	since := lastScheduleTime
	if since.IsZero() {
		since = creationTime
	}
	if since.IsZero() {
		return nil, 0, next
	}
	latest, missed := s.missed(since, now)
	if missed == 0 {
		return nil, 0, next
	}
	if startingDeadline != nil && now.Sub(latest) > *startingDeadline {
		return nil, missed, next
	}
	return &latest, missed, next
}

// missed counts scheduled times in (since, now], up to MaxMissed, and
// returns the latest of them.
func (s Schedule) missed(since, now time.Time) (latest time.Time, n int) {
	for t := s.Next(since); !t.IsZero() && !t.After(now); t = s.Next(t) {
		if n == MaxMissed {
			return s.latest(latest, now), n
		}
		latest, n = t, n+1
	}
	return latest, n
}

// latest returns the last scheduled time at or before now, given lo, a
// scheduled time at or before now. It bisects on the start of the search:
// Next(x) <= now exactly when x is before the answer, so the answer is
// Next(x) for the greatest such x, found to the second (scheduled times are
// whole seconds and Next rounds up to the next second).
func (s Schedule) latest(lo, now time.Time) time.Time {
	hi := now // invariant: Next(lo) <= now < Next(hi), or lo is the answer
	for hi.Sub(lo) > time.Second {
		mid := lo.Add(hi.Sub(lo) / 2)
		if t := s.Next(mid); !t.IsZero() && !t.After(now) {
			lo = mid
		} else {
			hi = mid
		}
	}
	if t := s.Next(lo); !t.IsZero() && !t.After(now) {
		return t
	}
	return lo
}
