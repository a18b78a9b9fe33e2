package version

import (
	"runtime"
	"runtime/debug"
	"strings"
	"testing"
)

func TestFromBuild(t *testing.T) {
	bi := &debug.BuildInfo{
		GoVersion: "go1.99.1",
		Main:      debug.Module{Path: "github.com/safekeep-dev/safekeep", Version: "v0.3.0"},
		Settings:  []debug.BuildSetting{{Key: "vcs.revision", Value: "abc123"}, {Key: "vcs.modified", Value: "true"}},
	}
	tests := []struct {
		name            string
		version, commit string
		bi              *debug.BuildInfo
		want            Info
	}{
		{"linker wins", "v1.2.3", "deadbeef", bi, Info{"v1.2.3", "deadbeef", "go1.99.1", ""}},
		{"build info", "", "", bi, Info{"v0.3.0", "abc123-dirty", "go1.99.1", ""}},
		{"clean checkout", "", "", &debug.BuildInfo{Main: debug.Module{Version: "(devel)"},
			Settings: []debug.BuildSetting{{Key: "vcs.revision", Value: "abc123"}, {Key: "vcs.modified", Value: "false"}}},
			Info{"(devel)", "abc123", runtime.Version(), ""}},
		{"nothing known", "", "", nil, Info{"(devel)", "unknown", runtime.Version(), ""}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := fromBuild(tt.version, tt.commit, tt.bi)
			tt.want.Platform = runtime.GOOS + "/" + runtime.GOARCH
			if got != tt.want {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestString(t *testing.T) {
	s := Info{"v1.2.3", "deadbeef", "go1.26.8", "linux/amd64"}.String()
	if s != "v1.2.3 (commit deadbeef, go1.26.8, linux/amd64)" {
		t.Errorf("String() = %q", s)
	}
	if !strings.Contains(Get().String(), runtime.Version()) {
		t.Errorf("Get() = %q: no Go version", Get())
	}
}
