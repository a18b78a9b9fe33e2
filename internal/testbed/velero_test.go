package testbed

import (
	"bytes"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/minio/minio-go/v7"
	velerov1 "github.com/vmware-tanzu/velero/pkg/apis/velero/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// TestVelero backs up a namespace with the real Velero server into VersityGW,
// checks the objects Velero wrote, and restores it under a new name.
func TestVelero(t *testing.T) {
	ctx := t.Context()
	s3 := StartS3(t)
	s3.CreateBucket(t, "velero", false)
	cp := StartControlPlane(t)
	v := StartVelero(t, cp, s3, "velero")

	const ns = "phi-app"
	secretData := map[string][]byte{"password": []byte("hunter2-marker")}
	for _, obj := range []client.Object{
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}},
		&corev1.ConfigMap{
			ObjectMeta: metav1.ObjectMeta{Name: "settings", Namespace: ns},
			Data:       map[string]string{"mode": "strict"},
		},
		&corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Name: "db", Namespace: ns},
			Data:       secretData,
		},
	} {
		if err := cp.Client.Create(ctx, obj); err != nil {
			t.Fatalf("create %T %s: %v", obj, obj.GetName(), err)
		}
	}

	b := v.Backup(t, ctx, "nightly-1", velerov1.BackupSpec{IncludedNamespaces: []string{ns}})
	if b.Status.Phase != velerov1.BackupPhaseCompleted {
		t.Fatalf("backup phase = %s (%s, validation errors %v), want Completed",
			b.Status.Phase, b.Status.FailureReason, b.Status.ValidationErrors)
	}
	if b.Status.Progress == nil || b.Status.Progress.ItemsBackedUp < 3 {
		t.Errorf("backup progress = %+v, want at least 3 items (namespace, ConfigMap, Secret)", b.Status.Progress)
	}

	t.Run("objects in the bucket", func(t *testing.T) {
		var keys []string
		for obj := range s3.Minio(t).ListObjects(ctx, "velero", minio.ListObjectsOptions{Prefix: "backups/nightly-1/", Recursive: true}) {
			if obj.Err != nil {
				t.Fatalf("list: %v", obj.Err)
			}
			keys = append(keys, obj.Key)
		}
		for _, want := range []string{
			"backups/nightly-1/velero-backup.json",
			"backups/nightly-1/nightly-1.tar.gz",
			"backups/nightly-1/nightly-1-resource-list.json.gz",
		} {
			if !slices.Contains(keys, want) {
				t.Errorf("bucket lacks %s; has %v", want, keys)
			}
		}
		obj, err := s3.Minio(t).GetObject(ctx, "velero", "backups/nightly-1/velero-backup.json", minio.GetObjectOptions{})
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _ = obj.Close() }() // read-only
		body, err := io.ReadAll(obj)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Contains(body, []byte(`"name": "nightly-1"`)) && !bytes.Contains(body, []byte(`"name":"nightly-1"`)) {
			t.Errorf("velero-backup.json does not name the backup:\n%s", body)
		}
	})

	t.Run("restore into a mapped namespace", func(t *testing.T) {
		const target = "phi-app-restored"
		r := v.Restore(t, ctx, "nightly-1-drill", velerov1.RestoreSpec{
			BackupName:       "nightly-1",
			NamespaceMapping: map[string]string{ns: target},
		})
		if r.Status.Phase != velerov1.RestorePhaseCompleted {
			t.Fatalf("restore phase = %s (%s, %d errors), want Completed", r.Status.Phase, r.Status.FailureReason, r.Status.Errors)
		}
		got := &corev1.Secret{}
		if err := cp.Client.Get(ctx, client.ObjectKey{Namespace: target, Name: "db"}, got); err != nil {
			t.Fatalf("restored Secret: %v", err)
		}
		if !maps.EqualFunc(got.Data, secretData, bytes.Equal) {
			t.Errorf("restored Secret data differs from the original")
		}
		cm := &corev1.ConfigMap{}
		if err := cp.Client.Get(ctx, client.ObjectKey{Namespace: target, Name: "settings"}, cm); err != nil {
			t.Fatalf("restored ConfigMap: %v", err)
		}
		if cm.Data["mode"] != "strict" {
			t.Errorf("restored ConfigMap data = %v", cm.Data)
		}
	})
}

// TestVeleroBinGuard: a bin/velero built from Velero's own main (which binds
// :8080 on every interface) is refused with a message saying what to do; the
// one tools/build.sh builds is accepted.
func TestVeleroBinGuard(t *testing.T) {
	if got := veleroBin(t); got != Bin(t, "velero") {
		t.Fatalf("veleroBin = %s, want %s", got, Bin(t, "velero"))
	}

	// Any Go binary whose main is not tools/velero stands in for Velero's own.
	dir := t.TempDir()
	if err := os.Symlink(Bin(t, "etcd"), filepath.Join(dir, "velero")); err != nil {
		t.Fatal(err)
	}
	t.Setenv(BinEnv, dir)
	rec := &fatalRecorder{TB: t}
	done := make(chan struct{})
	go func() { // Fatalf ends this goroutine the way testing does
		defer close(done)
		veleroBin(rec)
	}()
	<-done
	if !strings.Contains(rec.msg, veleroMain) || !strings.Contains(rec.msg, "tools/build.sh velero") {
		t.Fatalf("veleroBin of another binary: message %q does not name %s and the fix", rec.msg, veleroMain)
	}
}
