package bench

import (
	"fmt"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// BenchmarkVolumeVerify measures the Level 1 volume drill (volume.Verify:
// every file of a sealed volume read through the sealed blobs, decrypted in
// memory, and verified) of one 1 GiB volume beside `kopia snapshot verify
// --verify-files-percent=100` on the primary repository, in the same run
// against the same VersityGW: target <= 1.5x kopia's wall time. volume.Verify
// runs in a process of its own (bench/internal/volverify), for its CPU and
// peak RSS. BENCH_ROUNDS and BENCH_VOLUME_MIB as for BenchmarkVolumes.
func BenchmarkVolumeVerify(b *testing.B) {
	v := newVolumeBed(b, "db-0")
	vols := v.snapshots(b)
	writeVolumeBackup(b, v.mc, v.primary, "vol1", vols)
	target := writeTarget(b, v.dir, "target.yaml", v.s3.Endpoint, "verify", v.recipient, v.pin)
	sealed := run(b, "safekeep seal", v.sealCmd(b, target, "vol1"))
	volverify := buildGo(b, v.dir, "volverify", "./bench/internal/volverify")
	n := rounds(b)

	for b.Loop() {
		res := sideBySide(b, n,
			contender{name: "volume.Verify (Level 1)", cmd: func(int) *exec.Cmd {
				cmd := exec.CommandContext(b.Context(), volverify, "-endpoint", v.s3.Endpoint, "-bucket", "offsite",
					"-prefix", "verify", "-backup", "nightly/vol1", "-identity", filepath.Join(v.dir, "identity.txt"),
					"-verify-key", v.pin, "-volume", volumeNamespace+"/"+v.pods[0]+"/data")
				cmd.Env = v.env
				return cmd
			}},
			contender{name: "kopia snapshot verify", cmd: func(r int) *exec.Cmd {
				config := fmt.Sprintf("verify%d.config", r) // a new connection: an empty cache
				v.k.connect(b, config, volumeNamespace)
				return v.k.cmd(b.Context(), config, "snapshot", "verify", "--verify-files-percent=100", vols[0].SnapshotID)
			}},
		)
		var t strings.Builder
		fmt.Fprintf(&t, "Level 1 verify of one %d MiB volume (%d files of 1 MiB), VersityGW (loopback), %d rounds rotating the order, %d CPUs, load %s\n",
			v.volMiB, v.files, n, runtime.NumCPU(), loadAverage())
		fmt.Fprintf(&t, "  (sealed once before: %v)\n%s  %s\n  %s\n", sealed, usageTable(res),
			verdict("wall: volume.Verify / kopia (median)", medianRatio(res[0], res[1], wallSeconds), 1.5),
			fmt.Sprintf("CPU: volume.Verify / kopia (median)    %6.2f", medianRatio(res[0], res[1], cpuSeconds)))
		fmt.Print(t.String()) // b.Log would cut the table at 10 lines without -v
		b.ReportMetric(medianRatio(res[0], res[1], wallSeconds), "verify-wall-ratio")
	}
}
