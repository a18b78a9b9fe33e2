package report

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
)

// Format is an output format of a report.
type Format string

// Formats.
const (
	FormatHTML     Format = "html"
	FormatMarkdown Format = "md"
	FormatCSV      Format = "csv"
	FormatJSON     Format = "json"
)

// Formats lists the formats, for usage messages.
var Formats = []Format{FormatHTML, FormatMarkdown, FormatCSV, FormatJSON}

// ParseFormat reads a format name; "markdown" is accepted for md.
func ParseFormat(s string) (Format, error) {
	switch f := Format(strings.ToLower(s)); f {
	case FormatHTML, FormatMarkdown, FormatCSV, FormatJSON:
		return f, nil
	case "markdown":
		return FormatMarkdown, nil
	}
	return "", fmt.Errorf("unknown report format %q: want html, md, csv or json", s)
}

// Render writes r to w in format f.
func Render(w io.Writer, r *Report, f Format) error {
	switch f {
	case FormatHTML:
		return WriteHTML(w, r)
	case FormatMarkdown:
		return WriteMarkdown(w, r)
	case FormatCSV:
		return WriteCSV(w, r)
	case FormatJSON:
		return WriteJSON(w, r)
	}
	return fmt.Errorf("unknown report format %q", f)
}

// WriteJSON writes r as indented JSON (format FormatV1; docs/report.md).
// HTML-significant characters are escaped, so the output is safe to embed.
func WriteJSON(w io.Writer, r *Report) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// CSVHeader is the first row of the CSV format.
var CSVHeader = []string{"time", "seq", "kind", "subject", "actor", "result", "details"}

// WriteCSV writes one row per audit entry of the period (r.Events), after
// CSVHeader. Cells a spreadsheet would read as a formula are made text
// (see SafeCell).
func WriteCSV(w io.Writer, r *Report) error {
	cw := csv.NewWriter(w)
	if err := cw.Write(CSVHeader); err != nil {
		return err
	}
	for _, e := range r.Events() {
		row := []string{
			e.Time.UTC().Format(time.RFC3339), strconv.FormatUint(e.Seq, 10), e.Kind, e.Subject, e.Actor, e.Result, e.Details,
		}
		for i := range row {
			row[i] = SafeCell(row[i])
		}
		if err := cw.Write(row); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}

// SafeCell defuses formula injection: a cell starting with '=', '+', '-',
// '@', a tab or a carriage return gets a leading apostrophe, so spreadsheets
// show it as text instead of evaluating it.
func SafeCell(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}
