package ociimage

import (
	"crypto/sha256"
	"debug/buildinfo"
	"encoding/hex"
	"encoding/json"
	"os"
	"slices"
	"strings"
	"testing"
)

func TestSBOM(t *testing.T) {
	o := options(t)
	b, err := SBOM(o.Binary, o)
	if err != nil {
		t.Fatal(err)
	}
	var doc spdxDoc
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatalf("SBOM is not JSON: %v", err)
	}
	if doc.SPDXVersion != "SPDX-2.3" || doc.CreationInfo.Created != "2026-01-01T00:00:00Z" {
		t.Errorf("SBOM header %+v", doc.CreationInfo)
	}
	bin, err := os.ReadFile(o.Binary)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(bin)
	main := doc.Packages[0]
	if main.VersionInfo != testVersion || len(main.Checksums) != 1 || main.Checksums[0].ChecksumValue != hex.EncodeToString(sum[:]) {
		t.Errorf("the binary's package %+v: want version %s and SHA-256 %x", main, testVersion, sum)
	}
	bi, err := buildinfo.ReadFile(o.Binary)
	if err != nil {
		t.Fatal(err)
	}
	var purls []string
	for _, p := range doc.Packages {
		purls = append(purls, p.ExternalRefs[0].ReferenceLocator)
	}
	for _, dep := range bi.Deps {
		m := dep
		if m.Replace != nil {
			m = m.Replace
		}
		if want := "pkg:golang/" + m.Path + "@" + m.Version; !slices.Contains(purls, want) {
			t.Errorf("SBOM lacks %s", want)
		}
	}
	for _, want := range []string{"pkg:golang/sigs.k8s.io/controller-runtime@", "pkg:golang/filippo.io/age@", "pkg:golang/stdlib@"} {
		if !slices.ContainsFunc(purls, func(p string) bool { return strings.HasPrefix(p, want) }) {
			t.Errorf("SBOM lacks %s...", want)
		}
	}
	if len(doc.Relationships) != len(doc.Packages) {
		t.Errorf("%d relationships for %d packages", len(doc.Relationships), len(doc.Packages))
	}
	again, err := SBOM(o.Binary, o)
	if err != nil || string(again) != string(b) {
		t.Errorf("SBOM differs between two runs (%v)", err)
	}
}

// TestDockerfile keeps the Dockerfile for Docker users in step with what
// make image builds: the same build flags, user and entrypoint.
func TestDockerfile(t *testing.T) {
	b, err := os.ReadFile("../../Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	df := string(b)
	for _, want := range []string{"CGO_ENABLED=0", "-trimpath", "-tags timetzdata", "-s -w -buildid=", VersionPackage + ".Version=",
		"FROM scratch", "USER 65532:65532", `ENTRYPOINT ["` + BinaryPath + `"]`, "COPY --from=build /out/safekeep-controller " + BinaryPath} {
		if !strings.Contains(df, want) {
			t.Errorf("Dockerfile lacks %q", want)
		}
	}
}
