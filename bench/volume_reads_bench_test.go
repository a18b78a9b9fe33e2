package bench

import (
	"fmt"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// BenchmarkVolumeReads measures reading one sealed 1 GiB volume beside kopia
// reading it from the primary repository, in the same run against the same
// VersityGW (issue 10):
//
//   - the Level 1 volume drill (volume.Verify: every file read through the
//     sealed blobs, decrypted in memory, and verified) <= 1.5x `kopia
//     snapshot verify --verify-files-percent=100`; volume.Verify runs in a
//     process of its own (bench/internal/volverify), for its CPU and RSS;
//   - `safekeep restore --to-dir --volume` <= 1.3x `kopia snapshot restore`.
//
// kopia connects anew (an empty cache) before each of its runs.
// BENCH_ROUNDS and BENCH_VOLUME_MIB as for BenchmarkVolumes.
func BenchmarkVolumeReads(b *testing.B) {
	v := newVolumeBed(b, "db-0")
	vols := v.snapshots(b)
	writeVolumeBackup(b, v.mc, v.primary, "vol1", vols)
	target := writeTarget(b, v.dir, "target.yaml", v.s3.Endpoint, "reads", v.recipient, v.pin)
	sealed := run(b, "safekeep seal", v.sealCmd(b, target, "vol1"))
	volverify := buildGo(b, v.dir, "volverify", "./bench/internal/volverify")
	n, name := rounds(b), volumeNamespace+"/"+v.pods[0]+"/data"
	kopia := func(config string, args ...string) *exec.Cmd {
		v.k.connect(b, config, volumeNamespace)
		return v.k.cmd(b.Context(), config, args...)
	}

	for b.Loop() {
		verify := sideBySide(b, n,
			contender{name: "volume.Verify (Level 1)", cmd: func(int) *exec.Cmd {
				cmd := exec.CommandContext(b.Context(), volverify, "-endpoint", v.s3.Endpoint, "-bucket", "offsite",
					"-prefix", "reads", "-backup", "nightly/vol1", "-identity", filepath.Join(v.dir, "identity.txt"),
					"-verify-key", v.pin, "-volume", name)
				cmd.Env = v.env
				return cmd
			}},
			contender{name: "kopia snapshot verify", cmd: func(r int) *exec.Cmd {
				return kopia(fmt.Sprintf("verify%d.config", r), "snapshot", "verify", "--verify-files-percent=100", vols[0].SnapshotID)
			}},
		)
		out := filepath.Join(v.dir, "restored")
		restore := sideBySide(b, n,
			contender{name: "safekeep restore --to-dir", cmd: func(r int) *exec.Cmd {
				cmd := exec.CommandContext(b.Context(), v.safekeep, "restore", "--target-file", target, "--backup", "nightly/vol1",
					"--identity", filepath.Join(v.dir, "identity.txt"), "--to-dir", fmt.Sprintf("%s/safekeep%d", out, r), "--volume", name)
				cmd.Env = v.env
				return cmd
			}, cleanup: func(r int) {
				root := filepath.Join(out, fmt.Sprintf("safekeep%d", r))
				checkRestored(b, root, filepath.Join(root, "volumes", volumeNamespace, v.pods[0], "data"), v.data[0])
			}},
			contender{name: "kopia snapshot restore", cmd: func(r int) *exec.Cmd {
				return kopia(fmt.Sprintf("restore%d.config", r), "snapshot", "restore", vols[0].SnapshotID, fmt.Sprintf("%s/kopia%d", out, r))
			}, cleanup: func(r int) {
				root := filepath.Join(out, fmt.Sprintf("kopia%d", r))
				checkRestored(b, root, root, v.data[0])
			}},
		)

		var t strings.Builder
		fmt.Fprintf(&t, "one sealed %d MiB volume (%d files of 1 MiB), VersityGW (loopback), %d rounds rotating the order, %d CPUs, load %s\n",
			v.volMiB, v.files, n, runtime.NumCPU(), loadAverage())
		fmt.Fprintf(&t, "  (sealed once before: %v)\nLevel 1 verify:\n%s  %s\n  %s\n", sealed, usageTable(verify),
			verdict("wall: volume.Verify / kopia (median)", medianRatio(verify[0], verify[1], wallSeconds), 1.5),
			fmt.Sprintf("CPU: volume.Verify / kopia (median)    %6.2f", medianRatio(verify[0], verify[1], cpuSeconds)))
		fmt.Fprintf(&t, "restore to a folder:\n%s  %s\n  %s\n", usageTable(restore),
			verdict("wall: safekeep / kopia (median)", medianRatio(restore[0], restore[1], wallSeconds), 1.3),
			fmt.Sprintf("CPU: safekeep / kopia (median)         %6.2f", medianRatio(restore[0], restore[1], cpuSeconds)))
		fmt.Print(t.String()) // b.Log would cut the table at 10 lines without -v
		b.ReportMetric(medianRatio(verify[0], verify[1], wallSeconds), "verify-wall-ratio")
		b.ReportMetric(medianRatio(restore[0], restore[1], wallSeconds), "restore-wall-ratio")
	}
}
