package volume

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os/exec"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
)

// TestVolumeInfoMatchesVelero checks the JSON names of the volume info
// mirror against Velero's own type, read from the source of the version
// go.mod pins (Velero's package is internal: it cannot be imported).
func TestVolumeInfoMatchesVelero(t *testing.T) {
	out, err := exec.CommandContext(t.Context(), "go", "list", "-m", "-f", "{{.Dir}}", "github.com/vmware-tanzu/velero").Output()
	if err != nil || strings.TrimSpace(string(out)) == "" {
		t.Fatalf("find the velero module: %v", err)
	}
	file := filepath.Join(strings.TrimSpace(string(out)), "internal", "volume", "volumes_information.go")
	f, err := parser.ParseFile(token.NewFileSet(), file, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	velero := veleroJSONNames(f)
	for mirror, theirs := range map[reflect.Type]string{
		reflect.TypeFor[volumeInfo]():               "BackupVolumeInfo",
		reflect.TypeFor[snapshotDataMovementInfo](): "SnapshotDataMovementInfo",
		reflect.TypeFor[podVolumeInfo]():            "PodVolumeInfo",
		reflect.TypeFor[csiSnapshotInfo]():          "CSISnapshotInfo",
	} {
		fields, ok := velero[theirs]
		if !ok {
			t.Errorf("velero has no struct %s in %s", theirs, file)
			continue
		}
		for i := range mirror.NumField() {
			sf := mirror.Field(i)
			name, _, _ := strings.Cut(sf.Tag.Get("json"), ",")
			if got, ok := fields[sf.Name]; !ok || got != name {
				t.Errorf("%s.%s is %q in JSON; velero's %s.%s is %q (present: %v)", mirror.Name(), sf.Name, name, theirs, sf.Name, got, ok)
			}
		}
	}
}

// veleroJSONNames maps each struct type of f to its fields' JSON names
// (the field's name when untagged).
func veleroJSONNames(f *ast.File) map[string]map[string]string {
	out := make(map[string]map[string]string)
	ast.Inspect(f, func(n ast.Node) bool {
		ts, ok := n.(*ast.TypeSpec)
		if !ok {
			return true
		}
		st, ok := ts.Type.(*ast.StructType)
		if !ok {
			return true
		}
		fields := make(map[string]string)
		for _, fl := range st.Fields.List {
			for _, id := range fl.Names {
				name := id.Name
				if fl.Tag != nil {
					tag, _ := strconv.Unquote(fl.Tag.Value)
					if j, _, _ := strings.Cut(reflect.StructTag(tag).Get("json"), ","); j != "" {
						name = j
					}
				}
				fields[id.Name] = name
			}
		}
		out[ts.Name.Name] = fields
		return true
	})
	return out
}
