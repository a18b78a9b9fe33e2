// Package retention decides which backups a grandfather-father-son policy
// keeps. It is pure: it sees IDs and times, never storage.
//
// The semantics are restic's forget --keep-*: items are taken newest first;
// KeepLast keeps the newest N; KeepDaily, KeepWeekly, KeepMonthly and
// KeepYearly each group items into calendar buckets (day, ISO 8601 week,
// month, year, in the policy's time zone) and keep the newest item of each
// of the N most recent buckets that hold an item. An item kept by any rule
// is kept, with every rule that keeps it as a reason. As in restic, a rule
// that still has buckets to spare when it reaches the oldest item keeps that
// item too, so a short history is not cut shorter than asked.
//
// A policy whose counts are all zero keeps everything: an empty or
// forgotten policy never deletes every backup.
package retention

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// ErrInvalid is wrapped by the errors Apply returns for a bad policy or
// bad items. No decision is made then: nothing is dropped.
var ErrInvalid = errors.New("invalid retention input")

// Policy says how many of each kind of backup to keep. The zero value keeps
// everything.
type Policy struct {
	KeepLast    int
	KeepDaily   int
	KeepWeekly  int
	KeepMonthly int
	KeepYearly  int

	// Location is the time zone days, weeks, months and years are counted
	// in; nil means UTC.
	Location *time.Location
}

// IsZero reports whether every count is zero, so that the policy keeps
// everything.
func (p Policy) IsZero() bool {
	return p.KeepLast == 0 && p.KeepDaily == 0 && p.KeepWeekly == 0 && p.KeepMonthly == 0 && p.KeepYearly == 0
}

// String describes the policy, for example "keep 7 daily, 4 weekly".
func (p Policy) String() string {
	if p.IsZero() {
		return "keep all"
	}
	var parts []string
	for _, r := range p.rules() {
		if r.count > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", r.count, r.rule))
		}
	}
	return "keep " + strings.Join(parts, ", ")
}

// Item is a backup to decide on.
type Item struct {
	// ID identifies the item; unique and not empty.
	ID string
	// Time the backup was taken; not zero.
	Time time.Time
}

// Rule names a way of keeping an item.
type Rule string

const (
	RuleLast    Rule = "last"
	RuleDaily   Rule = "daily"
	RuleWeekly  Rule = "weekly"
	RuleMonthly Rule = "monthly"
	RuleYearly  Rule = "yearly"
	// RuleAll keeps every item under a policy whose counts are all zero.
	RuleAll Rule = "all"
)

// Reason is one rule keeping an item.
type Reason struct {
	Rule Rule
	// Bucket is the calendar bucket the item is newest in: "2026-03-14",
	// "2026-W11", "2026-03" or "2026"; for RuleLast, "#N" (the Nth newest);
	// empty for RuleAll.
	Bucket string
	// N is how many items the rule has kept so far, this one included;
	// at most the rule's count.
	N int
	// Oldest is set when the item is kept as the oldest item, by a rule that
	// had counts to spare, rather than as the newest in its bucket.
	Oldest bool
}

// String describes the reason, for example "daily 2026-03-14 (3)" or
// "monthly 2026-01 (2, oldest)".
func (r Reason) String() string {
	switch {
	case r.Rule == RuleAll:
		return "all (empty policy)"
	case r.Oldest:
		return fmt.Sprintf("%s %s (%d, oldest)", r.Rule, r.Bucket, r.N)
	default:
		return fmt.Sprintf("%s %s (%d)", r.Rule, r.Bucket, r.N)
	}
}

// Kept is an item retention keeps, and why.
type Kept struct {
	Item
	Reasons []Reason
}

// Result is the decision on every item: each is in exactly one of Keep and
// Drop, both newest first (ties by ID).
type Result struct {
	Keep []Kept
	Drop []Item
}

// Apply decides which items p keeps. The input is not modified. It fails,
// wrapping ErrInvalid, on a negative count, an empty or repeated ID, or a
// zero time.
func Apply(items []Item, p Policy) (Result, error) {
	if err := check(items, p); err != nil {
		return Result{}, err
	}
	sorted := slices.Clone(items)
	slices.SortFunc(sorted, func(a, b Item) int {
		if c := b.Time.Compare(a.Time); c != 0 {
			return c
		}
		return cmp.Compare(a.ID, b.ID)
	})
	if p.IsZero() {
		res := Result{Keep: make([]Kept, len(sorted))}
		for i, it := range sorted {
			res.Keep[i] = Kept{Item: it, Reasons: []Reason{{Rule: RuleAll}}}
		}
		return res, nil
	}
	return apply(sorted, p), nil
}

func check(items []Item, p Policy) error {
	for _, r := range p.rules() {
		if r.count < 0 {
			return fmt.Errorf("keep %s is %d, must not be negative: %w", r.rule, r.count, ErrInvalid)
		}
	}
	seen := make(map[string]bool, len(items))
	for i, it := range items {
		switch {
		case it.ID == "":
			return fmt.Errorf("item %d has no ID: %w", i, ErrInvalid)
		case seen[it.ID]:
			return fmt.Errorf("item %q appears twice: %w", it.ID, ErrInvalid)
		case it.Time.IsZero():
			return fmt.Errorf("item %q has no time: %w", it.ID, ErrInvalid)
		}
		seen[it.ID] = true
	}
	return nil
}

// rule is one keep-* count with its bucketing function.
type rule struct {
	rule   Rule
	count  int
	bucket func(t time.Time, nth int) string
}

func (p Policy) rules() []rule {
	return []rule{
		{RuleLast, p.KeepLast, func(_ time.Time, nth int) string { return fmt.Sprintf("#%d", nth) }},
		{RuleDaily, p.KeepDaily, func(t time.Time, _ int) string { return t.Format(time.DateOnly) }},
		{RuleWeekly, p.KeepWeekly, func(t time.Time, _ int) string {
			y, w := t.ISOWeek()
			return fmt.Sprintf("%04d-W%02d", y, w)
		}},
		{RuleMonthly, p.KeepMonthly, func(t time.Time, _ int) string { return t.Format("2006-01") }},
		{RuleYearly, p.KeepYearly, func(t time.Time, _ int) string { return t.Format("2006") }},
	}
}

// apply runs the rules over items sorted newest first. A bucket counts once
// however its items are ordered, so a wall clock that steps back across
// midnight cannot make one day count twice.
func apply(items []Item, p Policy) Result {
	loc := p.Location
	if loc == nil {
		loc = time.UTC
	}
	rules := p.rules()
	kept := make([]int, len(rules))
	seen := make([]map[string]bool, len(rules))
	for i := range seen {
		seen[i] = map[string]bool{}
	}
	var res Result
	for n, it := range items {
		local := it.Time.In(loc)
		oldest := n == len(items)-1
		var reasons []Reason
		for i, r := range rules {
			if kept[i] >= r.count {
				continue
			}
			b := r.bucket(local, n+1)
			if seen[i][b] && !oldest {
				continue
			}
			isOldest := seen[i][b] // kept only because it is the oldest
			seen[i][b] = true
			kept[i]++
			reasons = append(reasons, Reason{Rule: r.rule, Bucket: b, N: kept[i], Oldest: isOldest})
		}
		if len(reasons) > 0 {
			res.Keep = append(res.Keep, Kept{Item: it, Reasons: reasons})
		} else {
			res.Drop = append(res.Drop, it)
		}
	}
	return res
}
