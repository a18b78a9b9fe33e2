// Package fuzzcorpus checks that every fuzz test of a parser of the
// offsite bucket's contents keeps its corpus in testdata/ (issue 11: the
// bucket is untrusted input; its parsers are fuzzed, and what was learned
// is kept, so `go test` replays it on every run).
package fuzzcorpus

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/safekeep-dev/safekeep/internal/testbed"
)

// bucketParsers are the fuzz tests of code that reads what the bucket
// holds, by package. A new parser of bucket contents belongs here.
var bucketParsers = map[string][]string{
	"seal":    {"FuzzParseSeal", "FuzzParseManifest", "FuzzParseSigned", "FuzzValidateObjectName"}, // seal.json, manifest, receipts and markers, object names
	"audit":   {"FuzzParse", "FuzzReadSegment", "FuzzEntryKey", "FuzzClaimKey", "FuzzSegmentKey"},  // entries, segments, keys listed
	"crypto":  {"FuzzDecrypt", "FuzzParseVerifyKey"},                                               // every .age object, keys/signing.pub
	"drill":   {"FuzzTarballParser", "FuzzStagedBackupJSON"},                                       // the sealed tarball, velero-backup.json
	"restore": {"FuzzWalkTarball"},                                                                 // the tarball restore --to-dir writes out
}

func TestBucketParsersKeepCorpus(t *testing.T) {
	root := testbed.RepoRoot(t)
	n := 0
	for pkg, fuzzers := range bucketParsers {
		src := testSources(t, filepath.Join(root, pkg))
		for _, name := range fuzzers {
			if !regexp.MustCompile(`func ` + name + `\(f \*testing\.F\)`).MatchString(src) {
				t.Errorf("%s: no fuzz test %s: update the list", pkg, name)
				continue
			}
			files, err := os.ReadDir(filepath.Join(root, pkg, "testdata", "fuzz", name))
			if err != nil || len(files) == 0 {
				t.Errorf("%s.%s keeps no corpus in %s/testdata/fuzz/%s (%v): run it with -fuzz and copy what it found from the fuzz cache", pkg, name, pkg, name, err)
				continue
			}
			n += len(files)
		}
	}
	t.Logf("bucket parsers' fuzz corpora: %d inputs kept in testdata", n)
}

// testSources is the text of dir's test files.
func testSources(t *testing.T, dir string) string {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join(dir, "*_test.go"))
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for _, p := range paths {
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		b.Write(data)
	}
	return b.String()
}
