package backupschedule

import (
	"slices"
	"strconv"
	"strings"

	velerov1 "github.com/vmware-tanzu/velero/pkg/apis/velero/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
)

// veleroServer is what Velero's server runs with, read from the command
// line of its Deployment's container: the flags that decide what happens
// to volume data.
type veleroServer struct {
	// features of --features (Velero keeps the last one given, split at
	// commas).
	features []string
	// defaultMoveData and defaultFsBackup are --default-snapshot-move-data
	// and --default-volumes-to-fs-backup: what a Backup that leaves
	// snapshotMoveData or defaultVolumesToFsBackup unset gets.
	defaultMoveData, defaultFsBackup bool
}

// csi reports whether the server runs with the EnableCSI feature.
func (s veleroServer) csi() bool { return slices.Contains(s.features, velerov1.CSIFeatureFlag) }

// parseVeleroServer reads the server's flags from d's container named
// "velero" (as velero install names it), else its first container.
func parseVeleroServer(d *appsv1.Deployment) veleroServer {
	cs := d.Spec.Template.Spec.Containers
	if len(cs) == 0 {
		return veleroServer{}
	}
	c := cs[0]
	if i := slices.IndexFunc(cs, func(c corev1.Container) bool { return c.Name == veleroDeployment }); i >= 0 {
		c = cs[i]
	}
	return parseServerArgs(append(slices.Clone(c.Command), c.Args...))
}

// parseServerArgs parses the flags of a velero command line as pflag
// does: --name=value or --name value, a bare boolean flag means true,
// and "--" ends the flags.
func parseServerArgs(args []string) veleroServer {
	var s veleroServer
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			break
		}
		name, value, hasValue := strings.Cut(strings.TrimPrefix(a, "--"), "=")
		if !strings.HasPrefix(a, "--") {
			continue
		}
		switch name {
		case "features":
			if !hasValue && i+1 < len(args) {
				i++
				value = args[i]
			}
			s.features = strings.Split(value, ",")
		case "default-snapshot-move-data":
			s.defaultMoveData = boolFlag(value, hasValue)
		case "default-volumes-to-fs-backup":
			s.defaultFsBackup = boolFlag(value, hasValue)
		}
	}
	return s
}

// boolFlag is a boolean flag's value: true when bare; a value that does
// not parse counts as false (Velero would not start with it).
func boolFlag(value string, hasValue bool) bool {
	if !hasValue {
		return true
	}
	b, err := strconv.ParseBool(value)
	return err == nil && b
}
