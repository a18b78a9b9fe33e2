package ociimage

import (
	"bytes"
	"debug/elf"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/validate"

	"github.com/safekeep-dev/safekeep/internal/testbed"
)

const (
	testVersion = "v0.0.0-test"
	testCommit  = "0123456789abcdef0123456789abcdef01234567"
	testRef     = "ghcr.io/safekeep-dev/safekeep-controller:" + testVersion
)

var (
	binOnce sync.Once
	binPath string
	binErr  error
)

// binary builds the controller as `make image` does, once per test run.
func binary(t *testing.T) string {
	t.Helper()
	if testing.Short() { // a static build of the whole controller: not for make unit
		t.Skip("ociimage: builds the controller binary; skipped by -short (make unit), run by make test")
	}
	root := testbed.RepoRoot(t)
	binOnce.Do(func() {
		dir, err := os.MkdirTemp("", "safekeep-image-")
		if err != nil {
			binErr = err
			return
		}
		binPath = filepath.Join(dir, "safekeep-controller")
		start := time.Now()
		binErr = Binary{Root: root, Out: binPath, Version: testVersion, Commit: testCommit}.Build(t.Context())
		t.Logf("built the static controller in %s", time.Since(start).Round(time.Millisecond))
	})
	if binErr != nil {
		t.Fatal(binErr)
	}
	return binPath
}

func TestMain(m *testing.M) {
	code := m.Run()
	if binPath != "" {
		_ = os.RemoveAll(filepath.Dir(binPath)) // a temp folder: nothing to lose
	}
	os.Exit(code)
}

func options(t *testing.T) Options {
	return Options{Binary: binary(t), Version: testVersion, Commit: testCommit, Created: time.Unix(1767225600, 0).UTC(),
		Arch: runtime.GOARCH, Source: "https://github.com/safekeep-dev/safekeep"}
}

func build(t *testing.T, o Options) v1.Image {
	t.Helper()
	img, err := Build(o)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

func digest(t *testing.T, img interface{ Digest() (v1.Hash, error) }) v1.Hash {
	t.Helper()
	d, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func TestStaticBinary(t *testing.T) {
	f, err := elf.Open(binary(t))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = f.Close() }() // read-only
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			t.Error("the binary has a PT_INTERP program header: it needs a dynamic loader")
		}
	}
	libs, err := f.ImportedLibraries()
	if err != nil {
		t.Fatal(err)
	}
	if len(libs) > 0 {
		t.Errorf("the binary needs shared libraries %v", libs)
	}
}

func TestImageValid(t *testing.T) {
	o := options(t)
	img := build(t, o)
	if err := validate.Image(img); err != nil {
		t.Fatalf("validate.Image: %v", err)
	}
	dir := t.TempDir()
	if err := Write(dir, img, o, testRef); err != nil {
		t.Fatal(err)
	}
	// The layout as written, read back.
	lp, err := layout.FromPath(filepath.Join(dir, LayoutDir))
	if err != nil {
		t.Fatal(err)
	}
	idx, err := lp.ImageIndex()
	if err != nil {
		t.Fatal(err)
	}
	if err := validate.Index(idx); err != nil {
		t.Fatalf("validate.Index: %v", err)
	}
	im, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	if len(im.Manifests) != 1 || im.Manifests[0].Digest != digest(t, img) ||
		im.Manifests[0].Annotations["org.opencontainers.image.ref.name"] != testRef {
		t.Fatalf("index manifests %+v: want one, the image, named %s", im.Manifests, testRef)
	}

	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	if cf.Config.User != "65532:65532" || !slices.Equal(cf.Config.Entrypoint, []string{BinaryPath}) {
		t.Errorf("config user %q entrypoint %q: want 65532:65532 and %s", cf.Config.User, cf.Config.Entrypoint, BinaryPath)
	}
	if cf.OS != "linux" || cf.Architecture != runtime.GOARCH || !cf.Created.Equal(o.Created) {
		t.Errorf("config platform %s/%s created %s", cf.OS, cf.Architecture, cf.Created)
	}
	m, err := img.Manifest()
	if err != nil {
		t.Fatal(err)
	}
	for k, want := range map[string]string{
		"org.opencontainers.image.version": testVersion, "org.opencontainers.image.revision": testCommit,
		"org.opencontainers.image.created": "2026-01-01T00:00:00Z", "org.opencontainers.image.source": o.Source,
	} {
		if m.Annotations[k] != want || cf.Config.Labels[k] != want {
			t.Errorf("%s: annotation %q label %q, want %q", k, m.Annotations[k], cf.Config.Labels[k], want)
		}
	}

	// The tarball: what docker load reads (manifest.json with RepoTags),
	// read back as the same image.
	tb, err := tarball.ImageFromPath(filepath.Join(dir, TarballFile), nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := validate.Image(tb); err != nil {
		t.Fatalf("validate.Image of the tarball: %v", err)
	}
	tbCfg, err := tb.ConfigName()
	if err != nil {
		t.Fatal(err)
	}
	if imgCfg, _ := img.ConfigName(); tbCfg != imgCfg { // ConfigName cannot fail on a built image
		t.Errorf("tarball config %s, image config %s", tbCfg, imgCfg)
	}
	manifest := tarEntry(t, filepath.Join(dir, TarballFile), "manifest.json")
	var entries []struct{ RepoTags []string }
	if err := json.Unmarshal(manifest, &entries); err != nil || len(entries) != 1 || !slices.Equal(entries[0].RepoTags, []string{testRef}) {
		t.Errorf("tarball manifest.json %s (%v): want RepoTags [%s]", manifest, err, testRef)
	}
}

// tarEntry returns the content of name in the tar file at path.
func tarEntry(t *testing.T, path, name string) []byte {
	t.Helper()
	cmd := exec.CommandContext(t.Context(), "tar", "-xOf", path, name)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("tar -xOf %s %s: %v", path, name, err)
	}
	return out
}

func TestReproducible(t *testing.T) {
	o := options(t)
	d1, d2 := digest(t, build(t, o)), digest(t, build(t, o))
	if d1 != d2 {
		t.Fatalf("built twice: %s and %s", d1, d2)
	}
	// Written twice, the layout's index is byte-identical too.
	a, b := t.TempDir(), t.TempDir()
	for _, dir := range []string{a, b} {
		if err := Write(dir, build(t, o), o, testRef); err != nil {
			t.Fatal(err)
		}
	}
	ia, _ := os.ReadFile(filepath.Join(a, LayoutDir, "index.json")) // compared below: a failed read differs
	ib, _ := os.ReadFile(filepath.Join(b, LayoutDir, "index.json"))
	if len(ia) == 0 || !bytes.Equal(ia, ib) {
		t.Errorf("index.json differs between two writes:\n%s\n%s", ia, ib)
	}
	// The control: another SOURCE_DATE_EPOCH is another image.
	o.Created = o.Created.Add(time.Second)
	if d3 := digest(t, build(t, o)); d3 == d1 {
		t.Errorf("a different creation time gave the same digest %s", d3)
	}
	t.Logf("digest %s, stable over two builds", d1)
}

func TestRegistryRoundTrip(t *testing.T) {
	srv := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	t.Cleanup(srv.Close)
	host := strings.TrimPrefix(srv.URL, "http://")
	ref, err := name.NewTag(host+"/safekeep-dev/safekeep-controller:"+testVersion, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	img := build(t, options(t))
	if err := remote.Write(ref, img, remote.WithContext(t.Context())); err != nil {
		t.Fatalf("push to %s: %v", ref, err)
	}
	got, err := remote.Image(ref, remote.WithContext(t.Context()))
	if err != nil {
		t.Fatalf("pull %s: %v", ref, err)
	}
	if digest(t, got) != digest(t, img) {
		t.Fatalf("pulled %s, pushed %s", digest(t, got), digest(t, img))
	}
	if err := validate.Image(got); err != nil {
		t.Fatalf("validate.Image of the pulled image: %v", err)
	}
}

// TestRunsInChroot unpacks the image into a folder that holds nothing
// else and runs its entrypoint there as 65532:65532 with an empty
// environment: --version answers, and --selfcheck loads time zones and
// verifies a public certificate chain with no /usr/share/zoneinfo and no
// /etc/ssl in sight.
func TestRunsInChroot(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Fatal("chroot needs root: run the tests as root (CI does)")
	}
	img := build(t, options(t))
	root := t.TempDir()
	if err := untar(mutate.Extract(img), root); err != nil {
		t.Fatal(err)
	}
	for _, absent := range []string{"usr/share/zoneinfo", "etc/ssl", "lib", "bin/sh"} {
		if _, err := os.Stat(filepath.Join(root, absent)); err == nil {
			t.Fatalf("%s exists in the unpacked image: the test would prove nothing", absent)
		}
	}
	chain, err := os.ReadFile("../selfcheck/testdata/public-chain.pem")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "tmp", "chain.pem"), chain, 0o644); err != nil {
		t.Fatal(err)
	}
	chroot := func(args ...string) (string, error) {
		cmd := exec.CommandContext(t.Context(), "chroot", append([]string{"--userspec=65532:65532", root, BinaryPath}, args...)...)
		cmd.Env = []string{} // no SSL_CERT_FILE, ZONEINFO or anything else from the host
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	out, err := chroot("--version")
	if err != nil || !strings.HasPrefix(out, "safekeep-controller version "+testVersion+" (commit "+testCommit) {
		t.Fatalf("--version in the chroot: %v\n%s", err, out)
	}
	t.Logf("--version: %s", strings.TrimSpace(out))
	out, err = chroot("--selfcheck", "/tmp/chain.pem")
	if err != nil || !strings.Contains(out, "time zone Asia/Kolkata: ok") || !strings.Contains(out, "certificate chain of www.google.com: ok") {
		t.Fatalf("--selfcheck in the chroot: %v\n%s", err, out)
	}
	t.Logf("--selfcheck:\n%s", out)
	// The user really is 65532: it cannot write where root owns.
	if err := os.WriteFile(filepath.Join(root, "tmp", "check.pem"), []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := chroot("--selfcheck", "/tmp/check.pem"); err == nil || !strings.Contains(out, "permission denied") {
		t.Errorf("a root-only file read as 65532: %v\n%s, want permission denied", err, out)
	}
}

// untar unpacks the tar stream r (closed after) into dir.
func untar(r io.ReadCloser, dir string) error {
	defer func() { _ = r.Close() }()                                  // read side
	cmd := exec.Command("tar", "-x", "--same-owner", "-p", "-C", dir) //nolint:noctx // bounded by the stream's end
	cmd.Stdin = r
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("untar: %w: %s", err, out)
	}
	return nil
}
