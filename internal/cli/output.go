package cli

import (
	"encoding/json"
	"io"
	"text/tabwriter"
)

// Output formats of listing verbs.
const (
	formatTable = "table"
	formatJSON  = "json"
)

// newTable returns a tabwriter for aligned columns; call Flush.
func newTable(w io.Writer) *tabwriter.Writer {
	return tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
}

// writeJSON writes v as indented JSON and a newline.
func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// checkFormat validates -o.
func checkFormat(format string) error {
	switch format {
	case formatTable, formatJSON:
		return nil
	}
	return usagef("-o %q: want table or json", format)
}
