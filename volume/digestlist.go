package volume

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	iofs "io/fs"
	"maps"
	"slices"
	"strconv"
	"strings"
)

// A digest list is how a reader of restored volumes that runs in a pod
// (`safekeep-controller volume-digests DIR...`) hands the digests of each
// volume's regular files to the controller, through the pod's log
// (docs/volumes.md, "Level 2"). One section per folder, in the order
// given:
//
//	volume <index>
//	f <sha256 hex> <size> <path, Go-quoted>
//	...
//	end <files> <bytes> <sum>
//
// or, when the folder could not be read to the end,
//
//	error <index> <message, Go-quoted>
//
// <sum> is Digests.Sum of the section's files: a list cut short (a log
// rotated, a line lost) does not end with the files and sum it holds.
const (
	digestListVolume = "volume"
	digestListFile   = "f"
	digestListEnd    = "end"
	digestListError  = "error"
)

// maxDigestLine bounds one line of a digest list (a path is at most a
// few KiB, quoted).
const maxDigestLine = 1 << 20

// ErrDigestList: a digest list does not parse, or a section does not end
// with the files and sum it holds.
var ErrDigestList = errors.New("bad digest list")

// Sum is the SHA-256 of d's lines "<sha256>  <size>  <quoted path>\n" in
// path order: equal sums, equal files.
func (d Digests) Sum() string {
	h := sha256.New()
	for _, p := range slices.Sorted(maps.Keys(d)) {
		_, _ = fmt.Fprintf(h, "%s  %d  %s\n", d[p].SHA256, d[p].Size, strconv.Quote(p)) // a hash never fails
	}
	return "sha256:" + hex.EncodeToString(h.Sum(nil))
}

// WriteDigestList writes the section of volume index for fsys: every
// regular file's digest as it is read (symlinks are not followed), then
// the end line; or an error line when fsys cannot be read to the end,
// which it also returns. It returns the digests written.
func WriteDigestList(w io.Writer, index int, fsys iofs.FS) (Digests, error) {
	bw := bufio.NewWriter(w)
	_, _ = fmt.Fprintf(bw, "%s %d\n", digestListVolume, index) // a failed write shows at Flush
	seen := Digests{}
	var bytes int64
	err := walkRegular(fsys, func(p string, d FileDigest) error {
		seen[p] = d
		bytes += d.Size
		_, err := fmt.Fprintf(bw, "%s %s %d %s\n", digestListFile, d.SHA256, d.Size, strconv.Quote(p))
		return err
	})
	if err != nil {
		_, _ = fmt.Fprintf(bw, "%s %d %s\n", digestListError, index, strconv.Quote(err.Error())) // shows at Flush
	} else {
		_, _ = fmt.Fprintf(bw, "%s %d %d %s\n", digestListEnd, len(seen), bytes, seen.Sum()) // shows at Flush
	}
	if ferr := bw.Flush(); err == nil {
		err = ferr
	}
	return seen, err
}

// DigestListRead is one volume's section of a digest list: its digests,
// or why the reader could not read it.
type DigestListRead struct {
	Digests Digests
	Err     error
}

// ReadDigestList reads a digest list of volumes 0..n-1. A volume whose
// section is missing, cut short or an error line has Err set (wrapping
// ErrDigestList when the list itself is at fault); the error returned is
// for the stream.
func ReadDigestList(r io.Reader, n int) ([]DigestListRead, error) {
	out := make([]DigestListRead, n)
	for i := range out {
		out[i].Err = fmt.Errorf("%w: no section for volume %d", ErrDigestList, i)
	}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), maxDigestLine)
	cur, files := -1, Digests{}
	var bytes int64
	for sc.Scan() {
		kind, rest, _ := strings.Cut(sc.Text(), " ")
		switch kind {
		case digestListVolume:
			i, err := strconv.Atoi(rest)
			if err != nil || i < 0 || i >= n {
				return out, fmt.Errorf("%w: volume %q", ErrDigestList, rest)
			}
			cur, files, bytes = i, Digests{}, 0
			out[i].Err = fmt.Errorf("%w: the section of volume %d is cut short", ErrDigestList, i)
		case digestListFile:
			p, d, err := parseDigestLine(rest)
			if err != nil || cur < 0 {
				return out, fmt.Errorf("%w: file line: %w", ErrDigestList, err)
			}
			files[p] = d
			bytes += d.Size
		case digestListEnd:
			if cur < 0 {
				return out, fmt.Errorf("%w: end before a volume", ErrDigestList)
			}
			if want := fmt.Sprintf("%d %d %s", len(files), bytes, files.Sum()); rest != want {
				out[cur].Err = fmt.Errorf("%w: volume %d ends with %q, its lines hold %q", ErrDigestList, cur, rest, want)
			} else {
				out[cur] = DigestListRead{Digests: files}
			}
			cur = -1
		case digestListError:
			idx, msg, _ := strings.Cut(rest, " ")
			i, err := strconv.Atoi(idx)
			if err != nil || i < 0 || i >= n {
				return out, fmt.Errorf("%w: error line for volume %q", ErrDigestList, idx)
			}
			if m, err := strconv.Unquote(msg); err == nil {
				msg = m
			}
			out[i].Err = errors.New(msg)
			cur = -1
		}
		// Other lines (a runtime's own output) are not the list's.
	}
	return out, sc.Err()
}

func parseDigestLine(s string) (string, FileDigest, error) {
	sum, rest, _ := strings.Cut(s, " ")
	size, quoted, _ := strings.Cut(rest, " ")
	n, err := strconv.ParseInt(size, 10, 64)
	if err != nil || n < 0 || len(sum) != sha256.Size*2 {
		return "", FileDigest{}, fmt.Errorf("digest %q size %q", sum, size)
	}
	if _, err := hex.DecodeString(sum); err != nil {
		return "", FileDigest{}, err
	}
	p, err := strconv.Unquote(quoted)
	if err != nil {
		return "", FileDigest{}, fmt.Errorf("path %q: %w", quoted, err)
	}
	return p, FileDigest{Size: n, SHA256: sum}, nil
}
