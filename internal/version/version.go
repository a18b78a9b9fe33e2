// Package version says which build of Safekeep is running: the release
// version, the commit and the Go toolchain, for --version of safekeep and
// safekeep-controller.
//
// A release build sets Version and Commit at link time:
//
//	go build -ldflags "-X github.com/safekeep-dev/safekeep/internal/version.Version=v1.2.3 \
//	  -X github.com/safekeep-dev/safekeep/internal/version.Commit=0123abc"
//
// Otherwise they come from the binary's build info: the module version
// (set by `go install module@version`) and the VCS revision (set when the
// build runs in a checkout without -buildvcs=false).
package version

import (
	"fmt"
	"runtime"
	"runtime/debug"
)

// Set at link time with -X; see the package comment.
var (
	// Version is the release version, such as v1.2.3.
	Version string
	// Commit is the Git commit the binary was built from.
	Commit string
)

// devel is what a field says when neither the linker nor the build info
// set it.
const devel = "(devel)"

// Info describes one build.
type Info struct {
	Version   string `json:"version"`
	Commit    string `json:"commit"`
	GoVersion string `json:"goVersion"`
	Platform  string `json:"platform"`
}

// Get returns the running binary's Info.
func Get() Info {
	bi, _ := debug.ReadBuildInfo() // nil when built without module support: fall back to defaults
	return fromBuild(Version, Commit, bi)
}

// fromBuild fills what the linker left empty from the build info.
func fromBuild(version, commit string, bi *debug.BuildInfo) Info {
	info := Info{Version: version, Commit: commit, GoVersion: runtime.Version(), Platform: runtime.GOOS + "/" + runtime.GOARCH}
	if bi != nil {
		if info.Version == "" && bi.Main.Version != "" {
			info.Version = bi.Main.Version
		}
		if info.Commit == "" {
			info.Commit = revision(bi)
		}
		if bi.GoVersion != "" {
			info.GoVersion = bi.GoVersion
		}
	}
	if info.Version == "" {
		info.Version = devel
	}
	if info.Commit == "" {
		info.Commit = "unknown"
	}
	return info
}

// revision returns the VCS revision recorded in bi, with "-dirty" when
// the work tree had changes, or "".
func revision(bi *debug.BuildInfo) string {
	var rev, modified string
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			modified = s.Value
		}
	}
	if rev != "" && modified == "true" {
		rev += "-dirty"
	}
	return rev
}

// String is the one line --version prints after the program's name.
func (i Info) String() string {
	return fmt.Sprintf("%s (commit %s, %s, %s)", i.Version, i.Commit, i.GoVersion, i.Platform)
}
