package storagetest

import (
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/safekeep-dev/safekeep/storage"
)

// collect lists prefix and fails the test on error.
func collect(t *testing.T, s storage.Store, prefix string) []storage.ObjectInfo {
	t.Helper()
	var out []storage.ObjectInfo
	for info, err := range s.List(t.Context(), prefix) {
		if err != nil {
			t.Fatalf("List(%q): %v", prefix, err)
		}
		out = append(out, info)
	}
	return out
}

func keys(infos []storage.ObjectInfo) []string {
	out := make([]string, len(infos))
	for i, info := range infos {
		out[i] = info.Key
	}
	return out
}

func testList(t *testing.T, newStore NewStore) {
	s := fresh(t, newStore)
	if got := collect(t, s, ""); len(got) != 0 {
		t.Fatalf("List of an empty store = %v", keys(got))
	}
	for _, k := range []string{"b/2", "a", "b/1", "b/10", "c/x/y", "bb"} {
		put(t, s, k, []byte(k))
	}
	for _, tc := range []struct {
		prefix string
		want   []string
	}{
		{"", []string{"a", "b/1", "b/10", "b/2", "bb", "c/x/y"}},
		{"b", []string{"b/1", "b/10", "b/2", "bb"}},
		{"b/", []string{"b/1", "b/10", "b/2"}},
		{"c/x/", []string{"c/x/y"}},
		{"z", nil},
	} {
		got := collect(t, s, tc.prefix)
		if !slices.Equal(keys(got), tc.want) {
			t.Errorf("List(%q) = %v, want %v", tc.prefix, keys(got), tc.want)
		}
		for _, info := range got {
			if info.Size != int64(len(info.Key)) || info.ETag == "" || info.LastModified.IsZero() {
				t.Errorf("List(%q) entry %+v: want size %d, an ETag and a time", tc.prefix, info, len(info.Key))
			}
		}
	}
	// Breaking out of the loop stops the listing.
	n := 0
	for _, err := range s.List(t.Context(), "") {
		if err != nil {
			t.Fatal(err)
		}
		n++
		if n == 2 {
			break
		}
	}
	if n != 2 {
		t.Fatalf("broke out after %d entries, want 2", n)
	}
}

// ListKeys is how many keys the pagination test writes: more than the
// 1,000 that S3 (and VersityGW) return in one page.
const ListKeys = 1100

func testListPagination(t *testing.T, newStore NewStore) {
	s := fresh(t, newStore)
	want := make([]string, ListKeys)
	for i := range want {
		want[i] = fmt.Sprintf("page/%05d", i)
	}
	var wg sync.WaitGroup
	errs := make(chan error, len(want))
	work := make(chan string)
	for range 8 {
		wg.Go(func() {
			for k := range work {
				if _, err := s.Put(t.Context(), k, strings.NewReader("p"), storage.PutOptions{Size: 1}); err != nil {
					errs <- err
				}
			}
		})
	}
	for _, k := range want {
		work <- k
	}
	close(work)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("Put: %v", err)
	}
	got := keys(collect(t, s, "page/"))
	if len(got) != len(want) {
		t.Fatalf("List returned %d keys, want %d", len(got), len(want))
	}
	if !slices.Equal(got, want) {
		t.Fatalf("List is not every key in order: first difference at %d", firstDiff(got, want))
	}
}

func firstDiff(a, b []string) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}

func testPrefixIsolation(t *testing.T, newStore NewStore) {
	base := prefixFor(t)
	parent := newStore(t, Want{Bucket: Plain, Prefix: base})
	a := newStore(t, Want{Bucket: Plain, Prefix: base + "/a"})
	ab := newStore(t, Want{Bucket: Plain, Prefix: "/" + base + "/ab/"}) // slashes are ignored
	put(t, a, "k", []byte("in a"))
	put(t, ab, "k", []byte("in ab"))

	if got := get(t, a, "k"); string(got) != "in a" {
		t.Errorf("a sees %q at k", got)
	}
	if got := get(t, ab, "k"); string(got) != "in ab" {
		t.Errorf("ab sees %q at k", got)
	}
	if got := keys(collect(t, a, "")); !slices.Equal(got, []string{"k"}) {
		t.Errorf("List of a = %v, want [k]: a store must not see a sibling whose prefix extends its own", got)
	}
	if got := keys(collect(t, parent, "")); !slices.Equal(got, []string{"a/k", "ab/k"}) {
		t.Errorf("List of the parent = %v, want [a/k ab/k] (relative keys)", got)
	}
	if err := a.Delete(t.Context(), "k"); err != nil {
		t.Fatal(err)
	}
	if got := get(t, ab, "k"); string(got) != "in ab" {
		t.Errorf("deleting a's k changed ab's: %q", got)
	}
}
