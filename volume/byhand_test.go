package volume_test

import (
	"bytes"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/safekeep-dev/safekeep/internal/testbed"
	"github.com/safekeep-dev/safekeep/seal/sealtest"
)

// byHandBlock is the shell block of docs/volumes.md's "By hand" section.
func byHandBlock(t *testing.T) string {
	t.Helper()
	doc, err := os.ReadFile(filepath.Join(testbed.RepoRoot(t), "docs", "volumes.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(doc), "### By hand, with age and kopia\n")
	_, block, ok2 := strings.Cut(section, "```sh\n")
	block, _, ok3 := strings.Cut(block, "```\n")
	if !ok || !ok2 || !ok3 {
		t.Fatal("docs/volumes.md has no ```sh block under \"### By hand, with age and kopia\"")
	}
	return block
}

// TestRestoreByHand runs the commands docs/volumes.md gives a responder with
// no Safekeep (age, jq, rclone, kopia from the fork Velero pins) against a
// volume sealed on VersityGW, and wants the volume's files back.
func TestRestoreByHand(t *testing.T) {
	for _, tool := range []string{"age", "jq", "rclone", "sha256sum", "bash"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s is needed (hack/install-deps.sh installs it): %v", tool, err)
		}
	}
	kopia := testbed.Bin(t, "kopia")
	b := sealtest.NewBed(t, true)
	b.VeleroBackup(t, "b1", "Completed", 1<<10)
	_, _, _, src := twoSnapshotsIn(t, b)
	if _, err := volumeSealer(b).Seal(t.Context(), "nightly", "b1"); err != nil {
		t.Fatalf("Seal: %v", err)
	}

	dir := t.TempDir()
	home := filepath.Join(dir, "home")
	work := filepath.Join(dir, "responder")
	for _, d := range []string{home, work} {
		if err := os.Mkdir(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(work, "key.txt"), []byte(b.IdentityText), 0o600); err != nil {
		t.Fatal(err)
	}
	rcloneConf := filepath.Join(dir, "rclone.conf")
	conf := fmt.Sprintf("[offsite]\ntype = s3\nprovider = Other\naccess_key_id = %s\nsecret_access_key = %s\nendpoint = %s\nregion = us-east-1\nforce_path_style = true\n",
		b.S3.AccessKey, b.S3.SecretKey, b.S3.Endpoint)
	if err := os.WriteFile(rcloneConf, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	run := func(volume string) (string, error) {
		cmd := exec.CommandContext(t.Context(), "bash", "-c", byHandBlock(t))
		cmd.Dir = work
		cmd.Env = testbed.ChildEnv("PATH="+filepath.Dir(kopia)+string(os.PathListSeparator)+os.Getenv("PATH"),
			"HOME="+home, "XDG_CONFIG_HOME="+filepath.Join(home, ".config"), "XDG_CACHE_HOME="+filepath.Join(home, ".cache"),
			"RCLONE_CONFIG="+rcloneConf, "BUCKET="+b.OffsiteBucket, "PREFIX=cluster-a", "SCHEDULE=nightly", "BACKUP=b1",
			"VOLUME="+volume)
		out, err := cmd.CombinedOutput()
		return string(out), err
	}

	// An unknown volume stops the commands before anything is fetched.
	if out, err := run("phi-app/db-0/nope"); err == nil {
		t.Errorf("the commands succeeded for an unknown volume:\n%s", out)
	}
	if _, err := os.Stat(filepath.Join(work, "repo")); !os.IsNotExist(err) {
		t.Errorf("blobs fetched for an unknown volume: %v", err)
	}
	if err := os.Remove(filepath.Join(work, "manifest.json")); err != nil {
		t.Fatal(err)
	}

	out, err := run("phi-app/db-0/data")
	if err != nil {
		t.Fatalf("the documented commands failed: %v\n%s", err, out)
	}
	files := sameTree(t, src, filepath.Join(work, "restored"))
	if files != 3 {
		t.Errorf("compared %d files, want the volume's 3", files)
	}
	if strings.Contains(out, "static-passw0rd") {
		t.Error("the commands printed the repository password")
	}
}

// sameTree wants every regular file and symlink under want to be in got,
// with the same content, mode and modification time (files) or target
// (symlinks); it returns the number of files compared.
func sameTree(t *testing.T, want, got string) int {
	t.Helper()
	n := 0
	err := filepath.WalkDir(want, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(want, path)
		other := filepath.Join(got, rel)
		if d.Type()&fs.ModeSymlink != 0 {
			w, _ := os.Readlink(path)
			g, err := os.Readlink(other)
			if err != nil || g != w {
				t.Errorf("symlink %s -> %q restored as %q (%v)", rel, w, g, err)
			}
			return nil
		}
		wi, _ := d.Info()
		gi, err := os.Lstat(other)
		if err != nil {
			t.Errorf("%s not restored: %v", rel, err)
			return nil
		}
		wd, _ := os.ReadFile(path)
		gd, _ := os.ReadFile(other)
		if !bytes.Equal(wd, gd) || wi.Mode() != gi.Mode() || !wi.ModTime().Equal(gi.ModTime()) {
			t.Errorf("%s restored with %d bytes, mode %v, time %v; want %d, %v, %v",
				rel, len(gd), gi.Mode(), gi.ModTime(), len(wd), wi.Mode(), wi.ModTime())
		}
		n++
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}
