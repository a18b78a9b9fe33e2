package location

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	sigsjson "sigs.k8s.io/json"
	"sigs.k8s.io/yaml"
)

// maxFile bounds what a loader reads: location files are a few hundred bytes.
const maxFile = 1 << 20

// ErrInvalid is wrapped by every error about a file's content (as opposed to
// failing to read it), so callers can tell a bad file from a missing one.
var ErrInvalid = errors.New("invalid location file")

// fileError names the file an error is about.
type fileError struct {
	path string
	err  error
}

func (e *fileError) Error() string { return e.path + ": " + e.err.Error() }
func (e *fileError) Unwrap() error { return e.err }

// invalidf builds an error about a file's content that wraps ErrInvalid.
func invalidf(format string, args ...any) error {
	return &invalidError{msg: fmt.Sprintf(format, args...)}
}

type invalidError struct{ msg string }

func (e *invalidError) Error() string        { return e.msg }
func (e *invalidError) Is(target error) bool { return target == ErrInvalid }

// readFile reads path, bounded by maxFile.
func readFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err // *PathError names the file already
	}
	defer func() { _ = f.Close() }() // read-only: a close error loses nothing
	data, err := io.ReadAll(io.LimitReader(f, maxFile+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	if len(data) > maxFile {
		return nil, &fileError{path: path, err: invalidf("file is larger than %d bytes", maxFile)}
	}
	return data, nil
}

// decodeStrict decodes one YAML (or JSON) document into obj, failing on
// unknown and duplicate fields with an error naming their path. apiVersion and
// kind must equal the given values.
func decodeStrict(data []byte, apiVersion, kind string, obj any) error {
	doc, err := singleDocument(data)
	if err != nil {
		return err
	}
	js, err := yaml.YAMLToJSONStrict(doc)
	if err != nil {
		return invalidf("not valid YAML: %s", trimYAMLError(err))
	}
	if bytes.Equal(bytes.TrimSpace(js), []byte("null")) {
		return invalidf("empty document")
	}
	var top any
	if err := sigsjson.UnmarshalCaseSensitivePreserveInts(js, &top); err != nil {
		return invalidf("not valid YAML: %s", trimJSONError(err))
	}
	if _, ok := top.(map[string]any); !ok {
		return invalidf("the document is not a mapping (want a %s object)", kind)
	}
	var tm struct {
		APIVersion any `json:"apiVersion"`
		Kind       any `json:"kind"`
	}
	if err := sigsjson.UnmarshalCaseSensitivePreserveInts(js, &tm); err != nil {
		return invalidf("not a %s object: %s", kind, trimJSONError(err)) // not reached: top is a mapping
	}
	if tm.APIVersion != apiVersion {
		if tm.APIVersion == nil {
			return invalidf("apiVersion is required (want %s)", apiVersion)
		}
		return invalidf("apiVersion is %s, want %s", quote(tm.APIVersion), apiVersion)
	}
	if tm.Kind != kind {
		if tm.Kind == nil {
			return invalidf("kind is required (want %s)", kind)
		}
		return invalidf("kind is %s, want %s", quote(tm.Kind), kind)
	}
	strict, err := sigsjson.UnmarshalStrict(js, obj)
	if err != nil {
		return invalidf("%s", trimJSONError(err))
	}
	if len(strict) > 0 {
		msgs := make([]string, len(strict))
		for i, e := range strict {
			msgs[i] = e.Error()
		}
		return invalidf("%s", strings.Join(msgs, "; "))
	}
	return nil
}

// singleDocument returns the one non-empty YAML document in data.
func singleDocument(data []byte) ([]byte, error) {
	r := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
	var docs [][]byte
	for {
		doc, err := r.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, invalidf("not valid YAML: %v", err)
		}
		if len(bytes.TrimSpace(stripComments(doc))) == 0 {
			continue
		}
		docs = append(docs, doc)
	}
	switch len(docs) {
	case 0:
		return nil, invalidf("empty document")
	case 1:
		return docs[0], nil
	default:
		return nil, invalidf("holds %d YAML documents, want one", len(docs))
	}
}

// stripComments drops comment-only lines and document markers, to tell an
// empty document from a real one.
func stripComments(doc []byte) []byte {
	var out []byte
	for line := range bytes.Lines(doc) {
		t := bytes.TrimSpace(line)
		if len(t) == 0 || t[0] == '#' || bytes.Equal(t, []byte("---")) {
			continue
		}
		out = append(out, line...)
	}
	return out
}

// trimYAMLError drops the library prefixes ("error converting YAML to JSON:
// yaml: ") and keeps the line number and reason.
func trimYAMLError(err error) string {
	s := err.Error()
	for _, p := range []string{"error converting YAML to JSON: ", "yaml: ", "unmarshal errors:"} {
		s = strings.TrimPrefix(strings.TrimSpace(s), p)
	}
	return strings.Join(strings.Fields(s), " ")
}

// trimJSONError keeps a decoding error short: "json: cannot unmarshal string
// into Go struct field S3Location.spec.s3.bucket of type int" becomes
// "spec.s3.bucket: cannot unmarshal string into int".
func trimJSONError(err error) string {
	s := strings.TrimPrefix(err.Error(), "json: ")
	const into = "cannot unmarshal "
	if i := strings.Index(s, " into Go struct field "); i >= 0 && strings.HasPrefix(s, into) {
		what := s[len(into):i]
		rest := s[i+len(" into Go struct field "):]
		field, typ, ok := strings.Cut(rest, " of type ")
		if ok {
			if dot := strings.Index(field, "."); dot >= 0 {
				field = field[dot+1:] // drop the Go type name
			}
			return fmt.Sprintf("%s: cannot unmarshal %s into %s", field, what, typ)
		}
	}
	return s
}

// quote renders a YAML scalar for a message: strings quoted, others as is.
func quote(v any) string {
	if s, ok := v.(string); ok {
		return strconv.Quote(s)
	}
	return fmt.Sprint(v)
}
