package drill

import (
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	velerov1 "github.com/vmware-tanzu/velero/pkg/apis/velero/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/safekeep-dev/safekeep/audit"
	"github.com/safekeep-dev/safekeep/internal/testbed"
	"github.com/safekeep-dev/safekeep/seal"
	"github.com/safekeep-dev/safekeep/seal/sealtest"
	"github.com/safekeep-dev/safekeep/storage"
	"github.com/safekeep-dev/safekeep/volume"
	"github.com/safekeep-dev/safekeep/volume/volumetest"
)

// volumeBed is a sealed backup b1 of namespace phi-app with one pod
// volume (db-0/data, PVC data-db-0) whose data kopia's own uploader wrote,
// an API server with Velero's CRDs and a staging bucket.
type volumeBed struct {
	*sealtest.Bed
	cp      *testbed.ControlPlane
	staging storage.Store
	opened  *seal.Opened
	src     string // the volume's files
}

func newVolumeBed(t *testing.T) *volumeBed {
	t.Helper()
	ctx := t.Context()
	b := &volumeBed{Bed: sealtest.NewBed(t, false), src: t.TempDir()}
	b.cp = testbed.StartControlPlane(t, testbed.WithCRDs(testbed.VeleroCRDPaths(t)...))
	if err := b.cp.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "velero"}}); err != nil {
		t.Fatal(err)
	}
	if err := b.cp.Client.Create(ctx, repoPasswordSecret(volumetest.Password)); err != nil {
		t.Fatal(err)
	}
	for name, data := range map[string]string{"records/patient-1.json": `{"name":"` + sealtest.Marker + `"}`, "scans/scan-1.dcm": strings.Repeat("x", 70000)} {
		p := filepath.Join(b.src, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(data), 0o640); err != nil {
			t.Fatal(err)
		}
	}
	r := volumetest.NewRepo(t, volumetest.Password)
	snap := r.Snapshot(t, b.src)
	r.CopyTo(t, b.Source, "phi-app")
	b.VeleroBackup(t, "b1", "Completed", 1<<10)
	volumetest.WriteBackup(t, b.Source, "b1", "default", []volumetest.PodVolume{
		{Namespace: "phi-app", Pod: "db-0", Volume: "data", PVC: "data-db-0", SnapshotID: snap},
	})
	s := b.Sealer()
	s.Volumes = &volume.Planner{Source: b.Source, BSL: "default",
		Password: func(context.Context) (string, error) { return volumetest.Password, nil }}
	if _, err := s.Seal(ctx, "nightly", "b1"); err != nil {
		t.Fatalf("Seal: %v", err)
	}
	pub := b.Signer.Public()
	var err error
	if b.opened, err = seal.Open(ctx, b.Offsite, "nightly", "b1", seal.VerifyOptions{VerifyKey: &pub, Identities: b.Identities}); err != nil {
		t.Fatal(err)
	}
	b.S3.CreateBucket(t, "staging", false)
	b.staging = sealtest.OpenStore(t, b.S3.Config("staging", "drills"))
	return b
}

func (b *volumeBed) runner(t *testing.T, staged string) *runner {
	t.Helper()
	opts, err := Options{
		Offsite: b.Offsite, Identities: b.Identities, Schedule: "nightly", Backup: "b1", Client: b.cp.Client,
		StagingLocation: "staging", Staging: b.staging, StagedName: staged, RestoreVolumes: true,
		Labels: map[string]string{"safekeep.dev/drill-run": staged},
	}.withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	r := &runner{opts: opts, now: opts.Now, progress: &progress{}, checks: map[string]*audit.CheckResult{}}
	for _, name := range CheckNames {
		r.checks[name] = &audit.CheckResult{Name: name, Message: "not run"}
	}
	return r
}

func TestStageVolumes(t *testing.T) {
	b := newVolumeBed(t)
	ctx := t.Context()
	c := b.cp.Client
	rec := b.opened.Manifest.Repositories[0]
	vol := b.opened.Manifest.Volumes[0]

	r := b.runner(t, "drill-a-1")
	vs, err := r.stageVolumes(ctx, b.opened)
	if err != nil || vs == nil {
		t.Fatalf("stageVolumes: %v, %v", vs, err)
	}
	if vs.blobs != len(rec.Blobs) || len(vs.volumes) != 1 {
		t.Errorf("staged %d blobs, %d volumes; want %d, 1", vs.blobs, len(vs.volumes), len(rec.Blobs))
	}
	// Every blob is in kopia/phi-app/ of the staging location, as Velero
	// wrote it, and kopia opens the staged copy.
	for _, bl := range rec.Blobs {
		if got := sealtest.SHA256(sealtest.Get(t, b.staging, "kopia/phi-app/"+bl.ID)); got != bl.SHA256 {
			t.Errorf("staged %s: sha256 %s, want %s", bl.ID, got, bl.SHA256)
		}
	}
	if _, err := volume.PlanRepository(ctx, b.staging, "phi-app", volumetest.Password, []string{vol.SnapshotID}); err != nil {
		t.Errorf("kopia cannot read the staged repository: %v", err)
	}

	// The BackupRepository Velero's restore looks up by label: Ready, with
	// a last maintenance time and a frequency that keeps maintenance off.
	var repos velerov1.BackupRepositoryList
	if err := c.List(ctx, &repos, client.InNamespace("velero"), client.MatchingLabels{
		velerov1.VolumeNamespaceLabel: "phi-app", velerov1.StorageLocationLabel: "staging", velerov1.RepositoryTypeLabel: "kopia",
	}); err != nil {
		t.Fatal(err)
	}
	if len(repos.Items) != 1 {
		t.Fatalf("%d BackupRepositories for (phi-app, staging), want 1", len(repos.Items))
	}
	br := repos.Items[0]
	switch {
	case br.Name != "phi-app-staging-kopia" || br.Spec.VolumeNamespace != "phi-app" || br.Spec.BackupStorageLocation != "staging" || br.Spec.RepositoryType != "kopia":
		t.Errorf("BackupRepository %s spec %+v", br.Name, br.Spec)
	case br.Status.Phase != velerov1.BackupRepositoryPhaseReady || br.Status.LastMaintenanceTime == nil:
		t.Errorf("BackupRepository status %+v, want Ready with lastMaintenanceTime", br.Status)
	case br.Status.LastMaintenanceTime.Add(br.Spec.MaintenanceFrequency.Duration).Before(time.Now().Add(7 * 24 * time.Hour)):
		t.Errorf("maintenance due at %v: Velero would start it on the staged copy", br.Status.LastMaintenanceTime.Add(br.Spec.MaintenanceFrequency.Duration))
	case br.Labels[LabelStagedBackup] != "drill-a-1" || br.Labels[LabelStaged] != "true":
		t.Errorf("BackupRepository labels %v", br.Labels)
	}

	// The PodVolumeBackup Velero's restore lists by the staged name, with
	// status set on create.
	var pvbs velerov1.PodVolumeBackupList
	if err := c.List(ctx, &pvbs, client.InNamespace("velero"), client.MatchingLabels{velerov1.BackupNameLabel: "drill-a-1"}); err != nil {
		t.Fatal(err)
	}
	if len(pvbs.Items) != 1 {
		t.Fatalf("%d PodVolumeBackups labelled with the staged name, want 1", len(pvbs.Items))
	}
	p := pvbs.Items[0]
	switch {
	case p.Spec.Pod.Namespace != "phi-app" || p.Spec.Pod.Name != "db-0" || p.Spec.Volume != "data" || p.Spec.UploaderType != "kopia" || p.Spec.BackupStorageLocation != "staging":
		t.Errorf("PodVolumeBackup spec %+v", p.Spec)
	case p.Status.Phase != velerov1.PodVolumeBackupPhaseCompleted || p.Status.SnapshotID != vol.SnapshotID || p.Status.Progress.TotalBytes != vol.Bytes:
		t.Errorf("PodVolumeBackup status %+v", p.Status)
	case p.Annotations["velero.io/pvc-name"] != "data-db-0" || !strings.HasPrefix(p.Name, "drill-a-1-"):
		t.Errorf("PodVolumeBackup %s annotations %v", p.Name, p.Annotations)
	}
	// The staged <b>-podvolumebackups.json.gz, from which Velero's sync
	// would create PodVolumeBackups, names only the staged copy.
	var synced []velerov1.PodVolumeBackup
	readGzipJSON(t, b.staging, "backups/drill-a-1/drill-a-1-podvolumebackups.json.gz", &synced)
	if len(synced) != 1 || synced[0].Name != p.Name || synced[0].Labels[velerov1.BackupNameLabel] != "drill-a-1" ||
		synced[0].Spec.BackupStorageLocation != "staging" || synced[0].Status.SnapshotID != vol.SnapshotID {
		t.Errorf("staged podvolumebackups file %+v", synced)
	}

	// A second run while the first holds the staging repository of the
	// namespace is a collision, and touches nothing of the first's.
	if _, err := b.runner(t, "drill-b-1").stageVolumes(ctx, b.opened); !errors.Is(err, ErrCollision) {
		t.Errorf("second run: %v, want ErrCollision", err)
	}
	if err := Cleanup(ctx, CleanupOptions{Client: c, VeleroNamespace: "velero", Staging: b.staging, StagedName: "drill-b-1", Restore: "drill-b-1", Volumes: true}); err != nil {
		t.Fatalf("Cleanup of the second run: %v", err)
	}
	if n := len(sealtest.Snapshot(t, b.staging, "kopia/phi-app/")); n != len(rec.Blobs) {
		t.Errorf("the second run's cleanup left %d of the first run's %d staged blobs", n, len(rec.Blobs))
	}

	// Cleanup, from the staged name alone (as after a controller restart),
	// removes every staged blob, PodVolumeBackup and BackupRepository.
	if err := Cleanup(ctx, CleanupOptions{Client: c, VeleroNamespace: "velero", Staging: b.staging, StagedName: "drill-a-1", Restore: "drill-a-1", Volumes: true}); err != nil {
		t.Fatalf("Cleanup: %v", err)
	}
	if left := sealtest.Snapshot(t, b.staging, ""); len(left) != 0 {
		t.Errorf("left in the staging location: %v", sealtest.Keys(left))
	}
	if err := c.List(ctx, &pvbs, client.InNamespace("velero")); err != nil || len(pvbs.Items) != 0 {
		t.Errorf("PodVolumeBackups left: %d (%v)", len(pvbs.Items), err)
	}
	if err := c.List(ctx, &repos, client.InNamespace("velero")); err != nil || len(repos.Items) != 0 {
		t.Errorf("BackupRepositories left: %d (%v)", len(repos.Items), err)
	}

	stageDamaged(t, b)
	stageWrongPassword(t, b)
}

// repoPasswordSecret is Velero's repository password Secret.
func repoPasswordSecret(pw string) *corev1.Secret {
	return &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "velero", Name: volume.PasswordSecret},
		Data: map[string][]byte{volume.PasswordKey: []byte(pw)}}
}

// stageWrongPassword: when Velero's repository password is not the sealed
// repository's (or cannot be read), the volume-files check fails with
// RepositoryPasswordMismatch naming the volume, before anything is
// staged or claimed, and no message holds either password.
func stageWrongPassword(t *testing.T, b *volumeBed) {
	ctx := t.Context()
	c := b.cp.Client
	const wrong = "not-the-sealed-password"
	sec := repoPasswordSecret(wrong)
	if err := c.Update(ctx, sec); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name, want string
		mutate     func()
	}{
		{"another password", "is not the password the sealed repository was written with", func() {}},
		{"no Secret", "could not be read", func() {
			if err := c.Delete(ctx, sec); err != nil {
				t.Fatal(err)
			}
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			tt.mutate()
			r := b.runner(t, "drill-pw-1")
			if vs, err := r.stageVolumes(ctx, b.opened); vs != nil || err != nil {
				t.Fatalf("stageVolumes: %v, %v; want a failed check", vs, err)
			}
			ch := r.checks[CheckVolumeFiles]
			if ch.Passed || !strings.HasPrefix(ch.Message, VolumePasswordMismatch+": 1 volume not restored") || !strings.Contains(ch.Message, tt.want) ||
				len(ch.Objects) != 1 || ch.Objects[0] != "volume phi-app/db-0/data" {
				t.Errorf("check %+v, want %s naming the volume", ch, VolumePasswordMismatch)
			}
			if len(r.restored) != 1 || r.restored[0].Reason != VolumePasswordMismatch {
				t.Errorf("restored %+v", r.restored)
			}
			for _, msg := range []string{ch.Message, r.restored[0].Message, r.checks[CheckRestore].Message} {
				if strings.Contains(msg, wrong) || strings.Contains(msg, volumetest.Password) {
					t.Errorf("a message shows a password: %q", msg)
				}
			}
			if left := sealtest.Snapshot(t, b.staging, "kopia/"); len(left) != 0 {
				t.Errorf("staged before the password was checked: %v", sealtest.Keys(left))
			}
			if err := Cleanup(ctx, CleanupOptions{Client: c, Staging: b.staging, StagedName: "drill-pw-1", Volumes: true}); err != nil {
				t.Fatal(err)
			}
			var repos velerov1.BackupRepositoryList
			if err := c.List(ctx, &repos, client.InNamespace("velero")); err != nil || len(repos.Items) != 0 {
				t.Errorf("BackupRepositories created: %d (%v)", len(repos.Items), err)
			}
		})
	}
}

// stageDamaged: a flipped bit in a sealed pack fails the volume check
// (naming no blob: the message goes into the audit entry), the pack is
// never staged, and cleanup removes what was.
func stageDamaged(t *testing.T, b *volumeBed) {
	ctx := t.Context()
	rec := b.opened.Manifest.Repositories[0]
	var pack seal.VolumeBlob
	for _, bl := range rec.Blobs {
		if strings.HasPrefix(bl.ID, "p") {
			pack = bl
		}
	}
	data := sealtest.Get(t, b.Offsite, pack.Key)
	data[len(data)/2] ^= 1
	sealtest.Put(t, b.Offsite, pack.Key, data)

	r := b.runner(t, "drill-a-2")
	if vs, err := r.stageVolumes(ctx, b.opened); vs != nil || err != nil {
		t.Fatalf("stageVolumes with a damaged pack: %v, %v; want a failed check", vs, err)
	}
	c := r.checks[CheckVolumeFiles]
	if c.Passed || !strings.Contains(c.Message, "did not verify") || strings.Contains(c.Message, pack.ID) || len(c.Objects) != 0 {
		t.Errorf("check %+v: want failed, naming no blob", c)
	}
	if r.checks[CheckRestore].Message == "not run" {
		t.Error("the restore check does not say why it did not run")
	}
	if sealtest.HasKey(sealtest.Snapshot(t, b.staging, "kopia/"), "kopia/phi-app/"+pack.ID) {
		t.Error("the damaged pack was staged")
	}
	if err := Cleanup(ctx, CleanupOptions{Client: b.cp.Client, Staging: b.staging, StagedName: "drill-a-2", Volumes: true}); err != nil {
		t.Fatal(err)
	}
	if left := sealtest.Snapshot(t, b.staging, ""); len(left) != 0 {
		t.Errorf("left in the staging location: %v", sealtest.Keys(left))
	}
}

func readGzipJSON(t *testing.T, st storage.Store, key string, v any) {
	t.Helper()
	rc, _, err := st.Get(t.Context(), key)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = rc.Close() }()
	zr, err := gzip.NewReader(rc)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.NewDecoder(zr).Decode(v); err != nil {
		t.Fatal(err)
	}
}

func TestRestoreVolumesNeedsRunningPods(t *testing.T) {
	cases := []struct {
		opts Options
		iso  WorkloadsMode
		ok   bool
	}{
		{Options{RestoreVolumes: true}, WorkloadsIsolated, true},
		{Options{RestoreVolumes: true}, WorkloadsInert, false},
		{Options{Job: &JobSpec{Image: "i"}}, WorkloadsInert, false},
		{Options{}, WorkloadsInert, true},
	}
	for _, tc := range cases {
		err := tc.opts.podsRun(Isolation{Workloads: tc.iso})
		if (err == nil) != tc.ok || (err != nil && !errors.Is(err, ErrInvalidOptions)) {
			t.Errorf("podsRun(%+v, %s) = %v, want ok %v", tc.opts, tc.iso, err, tc.ok)
		}
	}
}
