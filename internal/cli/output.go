package cli

import (
	"encoding/json"
	"fmt"
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

// printer prints a command's result to w and keeps the first write error,
// so that a block of output is checked once, at its end; after an error it
// prints nothing more.
type printer struct {
	w   io.Writer
	err error
}

func (p *printer) printf(format string, args ...any) {
	if p.err == nil {
		_, p.err = fmt.Fprintf(p.w, format, args...)
	}
}

func (p *printer) println(args ...any) {
	if p.err == nil {
		_, p.err = fmt.Fprintln(p.w, args...)
	}
}

// flushTable flushes a table printed through p, returning the first error.
func (p *printer) flushTable(w *tabwriter.Writer) error {
	if p.err != nil {
		return p.err
	}
	return w.Flush()
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
