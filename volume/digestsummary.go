package volume

import (
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"unicode/utf8"
)

// A digest summary is a volume's regular files in three figures: how many,
// their bytes, and Digests.Sum of them (a SHA-256 over every file's
// digest, size and path, in path order). The reader of restored volumes
// writes one per volume to its termination message, which the kubelet
// keeps whatever the size of the pod's log, so a volume whose digest list
// the log lost to rotation is still compared (docs/volumes.md, "Level 2"):
// equal sums, every file restored with the snapshot's digest. The lines:
//
//	summary <index> <files> <bytes> <sum>
//	error <index> <message, Go-quoted, cut to maxSummaryError bytes>
//
// A summary leaves out Velero's done folder (VeleroDir), as Level 2 does.
const (
	summaryLine = "summary"
	summaryErr  = "error"
	// MaxSummaries bounds what WriteSummaries writes: the kubelet keeps
	// the last 4096 bytes of a termination message.
	MaxSummaries = 4096
	// maxSummaryError bounds an error line's quoted message (the log has
	// it whole).
	maxSummaryError = 160
	// maxErrorLine and maxSummaryLine bound a line of a volume index of
	// at most 3 digits: "error <index> <quoted message>\n", "summary
	// <index> <files> <bytes> sha256:<hex>\n" (counts of at most 19 digits).
	maxErrorLine   = len(summaryErr) + 1 + 3 + 1 + maxSummaryError + 1
	maxSummaryLine = len(summaryLine) + 1 + 3 + 1 + 19 + 1 + 19 + 1 + len("sha256:") + 64 + 1
)

// MaxSummaryVolumes is how many volumes one termination message has room
// for whatever is written of each (a summary or an error): a reader of
// more volumes than that runs more than once, so that no volume goes
// without its summary for lack of room.
const MaxSummaryVolumes = MaxSummaries / max(maxErrorLine, maxSummaryLine)

// VeleroDir is the folder Velero's node-agent writes into a restored
// volume (a done file named by the Restore's UID): not the backup's.
const VeleroDir = ".velero"

// WithoutVeleroDir removes VeleroDir and what it holds from d, and
// returns d.
func (d Digests) WithoutVeleroDir() Digests {
	for p := range d {
		if p == VeleroDir || strings.HasPrefix(p, VeleroDir+"/") {
			delete(d, p)
		}
	}
	return d
}

// DigestSummary is a volume's files, bytes and Digests.Sum.
type DigestSummary struct {
	Files, Bytes int64
	Sum          string
}

// Summary returns d's summary.
func (d Digests) Summary() DigestSummary {
	s := DigestSummary{Files: int64(len(d)), Sum: d.Sum()}
	for _, f := range d {
		s.Bytes += f.Size
	}
	return s
}

// SummaryRead is one volume of the summaries: its summary, or why the
// reader could not read it; neither when the summaries lack it.
type SummaryRead struct {
	Summary *DigestSummary
	Err     error
}

// WriteSummaries writes the summaries of reads (by volume index): each
// read's Digests summarized without VeleroDir, or its error. Summaries come
// first, then errors, each line whole and only while the total stays
// within MaxSummaries; a volume left out is one the controller has no
// summary of.
func WriteSummaries(w io.Writer, reads []DigestListRead) error {
	var lines []string
	for i, r := range reads {
		if r.Err == nil {
			s := r.Digests.WithoutVeleroDir().Summary()
			lines = append(lines, fmt.Sprintf("%s %d %d %d %s\n", summaryLine, i, s.Files, s.Bytes, s.Sum))
		}
	}
	for i, r := range reads {
		if r.Err != nil {
			lines = append(lines, fmt.Sprintf("%s %d %s\n", summaryErr, i, quoteCut(r.Err.Error(), maxSummaryError)))
		}
	}
	var b strings.Builder
	for _, l := range lines {
		if b.Len()+len(l) <= MaxSummaries {
			b.WriteString(l)
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// quoteCut is msg Go-quoted, cut (by whole runes) so that the quoted
// form is at most n bytes.
func quoteCut(msg string, n int) string {
	q := strconv.Quote(msg)
	for len(q) > n && msg != "" {
		cut := len(msg) * n / len(q) // as much as fits, were it quoted alike
		cut = min(cut, len(msg)-1)
		for cut > 0 && !utf8.RuneStart(msg[cut]) {
			cut--
		}
		msg = msg[:cut]
		q = strconv.Quote(msg)
	}
	return q
}

// ReadSummaries reads the summaries of volumes 0..n-1 from a termination
// message. Lines that are not summaries (a log's tail, when the reader
// wrote none) are skipped; a volume with none has a zero SummaryRead.
func ReadSummaries(msg string, n int) []SummaryRead {
	out := make([]SummaryRead, n)
	for line := range strings.Lines(msg) {
		kind, rest, _ := strings.Cut(strings.TrimSuffix(line, "\n"), " ")
		idx, rest, _ := strings.Cut(rest, " ")
		i, err := strconv.Atoi(idx)
		if err != nil || i < 0 || i >= n {
			continue
		}
		switch kind {
		case summaryLine:
			var s DigestSummary
			var sum string
			if _, err := fmt.Sscanf(rest, "%d %d %s", &s.Files, &s.Bytes, &sum); err != nil || s.Files < 0 || s.Bytes < 0 || !validSum(sum) {
				continue
			}
			s.Sum = sum
			out[i] = SummaryRead{Summary: &s}
		case summaryErr:
			if m, err := strconv.Unquote(rest); err == nil {
				rest = m
			}
			out[i] = SummaryRead{Err: errors.New(rest)}
		}
	}
	return out
}

// validSum reports whether s is "sha256:" and 64 hex digits.
func validSum(s string) bool {
	h, ok := strings.CutPrefix(s, "sha256:")
	if !ok || len(h) != 64 {
		return false
	}
	for _, c := range h {
		if !strings.ContainsRune("0123456789abcdef", c) {
			return false
		}
	}
	return true
}
