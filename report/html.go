package report

import (
	_ "embed"
	"html/template"
	"io"
	"strings"
	"time"
)

//go:embed report.html.tmpl
var htmlSource string

// htmlTemplate is parsed once; html/template escapes every value for its
// context (text, attribute, SVG), so nothing read from the bucket can add
// markup or script.
var htmlTemplate = template.Must(template.New("report").Funcs(template.FuncMap{
	"time":         fmtTime,
	"timePtr":      fmtTimePtr,
	"bytes":        fmtBytes,
	"seconds":      fmtSeconds,
	"percent":      fmtPercent,
	"subject":      subject,
	"checks":       checksText,
	"volumes":      volumesText,
	"join":         strings.Join,
	"mapping":      mappingText,
	"passFail":     passFail,
	"verdict":      verdict,
	"lock":         lockText,
	"drillVolumes": drillVolumesText,
	"restoredVols": restoredVolumesText,
	"rfc3339":      func(t time.Time) string { return t.UTC().Format(time.RFC3339) },
}).Parse(htmlSource))

// WriteHTML writes r as one self-contained HTML file: inline CSS, charts as
// inline SVG, no script, and a Content-Security-Policy that forbids every
// fetch, so opening it loads nothing from anywhere. It prints well.
// Elements carry stable ids, classes and data attributes (docs/report.md).
func WriteHTML(w io.Writer, r *Report) error {
	return htmlTemplate.Execute(w, newHTMLView(r))
}

type htmlView struct {
	R          *Report
	T          totals
	Schedules  []scheduleView
	Drills     []drillView
	Restores   shown[Restore]
	Deletions  shown[Deletion]
	Targets    shown[TargetChange]
	Failures   shown[Failure]
	Problems   shown[SealProblem]
	Recovered  shown[Recovery]
	Hidden     shown[HiddenObject]
	SealsOK    bool
	Disclaimer string
}

// shown is a table's rows after MaxTableRows.
type shown[T any] struct {
	Rows    []T
	Omitted int
}

func show[T any](s []T) shown[T] {
	rows, omitted := latest(s, MaxTableRows)
	return shown[T]{Rows: rows, Omitted: omitted}
}

type scheduleView struct {
	Schedule
	Shown shown[Backup]
}

type drillView struct {
	Drill
	Chart    rtoChart
	Calendar calendar
	Shown    shown[DrillRun]
	Failures shown[DrillRun]
}

func newHTMLView(r *Report) htmlView {
	v := htmlView{
		R: r, T: r.totals(), Restores: show(r.Restores), Deletions: show(r.Deletions), Targets: show(r.TargetChanges),
		Failures: show(r.Failures), Problems: show(r.Integrity.Seals.Problems), Disclaimer: Disclaimer,
		Recovered: show(r.Recoveries), Hidden: show(r.Integrity.Seals.Hidden),
	}
	s := r.Integrity.Seals
	v.SealsOK = s.Checked && len(s.Problems) == 0
	for _, sc := range r.Schedules {
		v.Schedules = append(v.Schedules, scheduleView{Schedule: sc, Shown: show(sc.Backups)})
	}
	start, end := r.calendarRange()
	for _, d := range r.Drills {
		v.Drills = append(v.Drills, drillView{
			Drill: d, Chart: newRTOChart(d), Calendar: newCalendar(d, start, end),
			Shown: show(d.RunList), Failures: show(d.failedRuns()),
		})
	}
	return v
}

// calendarRange is the period's first and last day: Since (or the first
// drill run) to the day before Until.
func (r *Report) calendarRange() (time.Time, time.Time) {
	end := r.Until.Add(-time.Nanosecond)
	var start time.Time
	if r.Since != nil {
		start = *r.Since
	}
	for _, d := range r.Drills {
		if len(d.RunList) > 0 && (r.Since == nil && (start.IsZero() || d.RunList[0].Time.Before(start))) {
			start = d.RunList[0].Time
		}
	}
	if start.IsZero() {
		start = end
	}
	for _, d := range r.Drills { // runs after Until (clock skew) still show
		if n := len(d.RunList); n > 0 && d.RunList[n-1].Time.After(end) {
			end = d.RunList[n-1].Time
		}
	}
	return start, end
}
