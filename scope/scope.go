// Package scope keeps Safekeep's own keys out of the Velero backups it
// creates. Velero's primary bucket is plaintext: a backup that held the
// controller's namespace (offsite credentials, the seal signing key, the
// drill identity) or Velero's (its cloud credentials, the kopia repository
// password) would hand whoever reads that bucket the means to decrypt every
// offsite copy and forge seals. Those namespaces are protected: every
// backup Safekeep creates leaves them out, whatever its template says.
package scope

import (
	"errors"
	"fmt"
	"path"
	"slices"
	"strings"
)

// ErrOnlyProtected: every namespace the template includes is protected, so
// nothing would be left to back up.
var ErrOnlyProtected = errors.New("the template includes only namespaces that hold Safekeep's keys")

// Namespaces is a backup's namespace scope, as Velero reads it: Included
// empty or holding "*" means every namespace; entries may be globs.
type Namespaces struct {
	Included, Excluded []string
}

// Result is a scope with the protected namespaces kept out.
type Result struct {
	Namespaces
	// Protected are the protected namespaces, each kept out.
	Protected []string
	// Narrowed are the protected namespaces the template's scope would
	// have included: the schedule is told (a warning), and they are out.
	Narrowed []string
}

// Protect returns ns with every protected namespace kept out: named in
// Included, it is removed (Velero refuses a namespace both included and
// excluded); covered by "*", an empty list or a glob, it is added to
// Excluded. It fails with ErrOnlyProtected when only protected namespaces
// were included.
func Protect(ns Namespaces, protected ...string) (Result, error) {
	res := Result{Namespaces: Namespaces{
		Included: slices.Clone(ns.Included), Excluded: slices.Clone(ns.Excluded),
	}}
	for _, p := range protected {
		if p == "" || slices.Contains(res.Protected, p) {
			continue
		}
		res.Protected = append(res.Protected, p)
		if matches(ns.Excluded, p) {
			continue // the template keeps it out already
		}
		named := slices.Contains(ns.Included, p)
		if named {
			res.Included = slices.DeleteFunc(res.Included, func(s string) bool { return s == p })
			if len(res.Included) == 0 {
				return Result{}, fmt.Errorf("%w (%s): nothing would be backed up", ErrOnlyProtected, strings.Join(append(res.Narrowed, p), ", "))
			}
		}
		covered := all(ns.Included) || matches(res.Included, p)
		if covered {
			res.Excluded = append(res.Excluded, p)
		}
		if named || covered {
			res.Narrowed = append(res.Narrowed, p)
		}
	}
	return res, nil
}

// all reports whether an include list means every namespace.
func all(included []string) bool {
	return len(included) == 0 || slices.Contains(included, "*")
}

// matches reports whether ns is named by, or matches a glob of, list.
func matches(list []string, ns string) bool {
	for _, pat := range list {
		if pat == ns || pat == "*" {
			return true
		}
		if ok, err := path.Match(pat, ns); err == nil && ok {
			return true
		}
	}
	return false
}
