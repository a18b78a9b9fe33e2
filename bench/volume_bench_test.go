package bench

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/minio/minio-go/v7"

	"github.com/safekeep-dev/safekeep/internal/testbed"
	"github.com/safekeep-dev/safekeep/storage"
	"github.com/safekeep-dev/safekeep/volume/volumetest"
)

const volumeNamespace = "phi-app"

// BenchmarkVolumes measures Safekeep on volume data, beside its peers in the
// same run against the same VersityGW (issue 10): a kopia repository made by
// the kopia CLI (the fork Velero pins, bin/kopia) in the primary bucket where
// Velero keeps it, two 1 GiB volumes of 1 MiB incompressible files.
//
//   - seal of the 2 GiB: wall <= 1.0x `rclone copy` of the repository's
//     prefix, CPU <= 0.8x rclone copy through crypt, peak RSS <= 160 MiB;
//   - incremental: after 1% of the files change and are snapshotted again,
//     the next seal uploads <= 1.1% of the repository's bytes; with no
//     change, the kopia snapshot manifest and Safekeep's manifest and seal;
//
// BenchmarkVolumeReads has the restore and verify of one volume.
//
// Each comparison runs BENCH_ROUNDS times (default 3), rotating the order;
// ratios are medians. BENCH_VOLUME_MIB shrinks the volumes for a quick look.
func BenchmarkVolumes(b *testing.B) {
	v := newVolumeBed(b, "db-0", "scans-0")
	volMiB, n, files, pods, data := v.volMiB, rounds(b), v.files, v.pods, v.data
	s3, mc, dir, recipient, pin := v.s3, v.mc, v.dir, v.recipient, v.pin
	vols := v.snapshots(b)
	writeVolumeBackup(b, mc, v.primary, "vol1", vols)
	repoBytes := total(objects(b, mc, "primary", "kopia/"+volumeNamespace+"/"))

	for b.Loop() {
		sealCmd := func(target, backup string) *exec.Cmd { return v.sealCmd(b, target, backup) }
		targetOf := func(r int) string {
			return writeTarget(b, dir, fmt.Sprintf("target%d.yaml", r), s3.Endpoint, fmt.Sprintf("round%d", r), recipient, pin)
		}
		rclone := func(dst string) *exec.Cmd {
			cmd := exec.CommandContext(b.Context(), "rclone", "copy", "src:primary/kopia/"+volumeNamespace+"/", dst, "--retries", "1")
			cmd.Env = v.env
			return cmd
		}
		last := n - 1 // the last round's seal stays, for the incremental step
		seal := sideBySide(b, n,
			contender{name: "safekeep seal (age, locked)", cmd: func(r int) *exec.Cmd { return sealCmd(targetOf(r), "vol1") },
				cleanup: func(r int) {
					if r != last {
						removePrefix(b, mc, "offsite", fmt.Sprintf("round%d/", r))
					}
				}},
			contender{name: "rclone copy (plain)", cmd: func(r int) *exec.Cmd { return rclone(fmt.Sprintf("dst:peer/plain%d/", r)) },
				cleanup: func(r int) { removePrefix(b, mc, "peer", fmt.Sprintf("plain%d/", r)) }},
			contender{name: "rclone copy (crypt)", cmd: func(r int) *exec.Cmd { return rclone(fmt.Sprintf("secret:crypt%d/", r)) },
				cleanup: func(r int) { removePrefix(b, mc, "peer", "") }},
		)

		// Incremental: 1% of each volume's files rewritten, snapshotted again.
		target, offsitePrefix := targetOf(last), fmt.Sprintf("round%d/", last)
		changed := max(1, files/100)
		for i := range pods {
			for j := range changed {
				writeVolumeFile(b, data[i], i, j*(files/changed), 1)
			}
		}
		writeVolumeBackup(b, mc, v.primary, "vol2", v.snapshots(b))
		repoAfterChange := total(objects(b, mc, "primary", "kopia/"+volumeNamespace+"/"))
		incr := uploaded(b, func() { run(b, "safekeep seal vol2", sealCmd(target, "vol2")) }, mc, offsitePrefix)
		writeVolumeBackup(b, mc, v.primary, "vol3", v.snapshots(b))
		repoNoChange := total(objects(b, mc, "primary", "kopia/"+volumeNamespace+"/"))
		same := uploaded(b, func() { run(b, "safekeep seal vol3", sealCmd(target, "vol3")) }, mc, offsitePrefix)

		var t strings.Builder
		fmt.Fprintf(&t, "volume data on VersityGW (loopback), %d rounds rotating the order, %d CPUs, load %s\n", n, runtime.NumCPU(), loadAverage())
		fmt.Fprintf(&t, "seal of %d volumes x %d MiB (%d files of 1 MiB each; repository %.1f MiB):\n%s",
			len(pods), volMiB, files, mib(repoBytes), usageTable(seal))
		fmt.Fprintf(&t, "  %s\n  %s\n  %s\n",
			verdict("wall: seal / rclone plain (median)", medianRatio(seal[0], seal[1], wallSeconds), 1.0),
			verdict("CPU: seal / rclone crypt (median)", medianRatio(seal[0], seal[2], cpuSeconds), 0.8),
			verdict("peak RSS of seal, MiB / 160 (max)", maxRSS(seal[0])/160, 1.0))
		fmt.Fprintf(&t, "incremental, %d files of %d per volume rewritten:\n  %v\n  %s\n", changed, files, incr,
			verdict("uploaded / repository bytes, %", 100*float64(incr.total())/float64(repoAfterChange), 1.1))
		fmt.Fprintf(&t, "no change, snapshotted again (repository %.1f MiB):\n  %v\n", mib(repoNoChange), same)
		fmt.Print(t.String()) // b.Log would cut the table at 10 lines without -v
		b.ReportMetric(medianRatio(seal[0], seal[1], wallSeconds), "seal-wall-ratio")
		b.ReportMetric(medianRatio(seal[0], seal[2], cpuSeconds), "seal-cpu-ratio")
		b.ReportMetric(maxRSS(seal[0]), "seal-rss-MiB")
		b.ReportMetric(100*float64(incr.total())/float64(repoAfterChange), "incremental-%")
	}
}

// checkRestored wants got to hold as many files and bytes as want, then
// removes root (the restore's folder).
func checkRestored(tb testing.TB, root, got, want string) {
	tb.Helper()
	gf, gb := dirStats(tb, got)
	wf, wb := dirStats(tb, want)
	if gf != wf || gb != wb {
		tb.Fatalf("%s holds %d files, %d bytes; the volume %d, %d", got, gf, gb, wf, wb)
	}
	if err := os.RemoveAll(root); err != nil {
		tb.Fatal(err)
	}
}

func mib(n int64) float64 { return float64(n) / (1 << 20) }

func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	return strings.Join(strings.Fields(string(b))[:3], " ")
}

// volumeBed is the test bed of the volume benchmarks: VersityGW with the
// primary (Velero's), offsite (locked) and peer buckets, the safekeep CLI
// and its keys, and a kopia repository made by the kopia CLI in the primary
// bucket with one volume of volumeMiB per pod.
type volumeBed struct {
	s3                           *testbed.S3Server
	mc                           *minio.Client
	primary                      storage.Store
	dir, safekeep, bsl, password string
	recipient, pin               string
	env                          []string
	k                            *kopiaBed
	volMiB, files                int
	pods, data                   []string // pod names, their volumes' folders
}

func newVolumeBed(b *testing.B, pods ...string) *volumeBed {
	b.Helper()
	if _, err := exec.LookPath("rclone"); err != nil {
		b.Fatalf("rclone is needed as the peer (apt-get install rclone): %v", err)
	}
	v := &volumeBed{s3: testbed.StartS3(b), dir: b.TempDir(), volMiB: volumeMiB(b), pods: pods}
	for bucket, lock := range map[string]bool{"primary": false, "offsite": true, "peer": false} {
		v.s3.CreateBucket(b, bucket, lock)
	}
	v.mc = v.s3.Minio(b)
	var err error
	if v.primary, err = storage.New(v.s3.Config("primary", "")); err != nil {
		b.Fatal(err)
	}
	v.safekeep = buildSafekeep(b, v.dir)
	v.env = testbed.ChildEnv("AWS_ACCESS_KEY_ID="+v.s3.AccessKey, "AWS_SECRET_ACCESS_KEY="+v.s3.SecretKey,
		"RCLONE_CONFIG="+writeRcloneConfig(b, v.dir, v.s3))
	v.recipient, v.pin = keygen(b, v.env, v.safekeep, v.dir)
	v.bsl = writeBSL(b, v.dir, v.s3.Endpoint)
	v.password = filepath.Join(v.dir, "repository-password")
	write(b, v.password, volumetest.Password)

	v.k = newKopiaBed(b, v.s3, v.dir)
	v.k.create(b, v.mc, "velero.config", volumeNamespace)
	v.files = v.volMiB << 20 / fileSize
	for i, pod := range pods {
		v.data = append(v.data, filepath.Join(v.dir, "data", pod))
		writeVolume(b, v.data[i], i, v.files)
	}
	return v
}

// snapshots backs every volume up with kopia, as Velero's node-agent does.
func (v *volumeBed) snapshots(b *testing.B) []volumetest.PodVolume {
	b.Helper()
	var vols []volumetest.PodVolume
	for i, pod := range v.pods {
		vols = append(vols, volumetest.PodVolume{Namespace: volumeNamespace, Pod: pod, Volume: "data",
			PVC: "data-" + pod, SnapshotID: v.k.snapshot(b, "velero.config", v.data[i])})
	}
	return vols
}

func (v *volumeBed) sealCmd(b *testing.B, target, backup string) *exec.Cmd {
	cmd := exec.CommandContext(b.Context(), v.safekeep, "seal", "--source", v.bsl, "--target-file", target,
		"--backup", backup, "--schedule", "nightly", "--signing-key", filepath.Join(v.dir, "signing.key"),
		"--repository-password-file", v.password)
	cmd.Env = v.env
	return cmd
}
