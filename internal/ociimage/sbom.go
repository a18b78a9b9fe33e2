package ociimage

import (
	"crypto/sha256"
	"debug/buildinfo"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// SPDX 2.3 document, the fields this SBOM uses
// (https://spdx.github.io/spdx-spec/v2.3/).
type spdxDoc struct {
	SPDXVersion       string         `json:"spdxVersion"`
	DataLicense       string         `json:"dataLicense"`
	SPDXID            string         `json:"SPDXID"`
	Name              string         `json:"name"`
	DocumentNamespace string         `json:"documentNamespace"`
	CreationInfo      spdxCreation   `json:"creationInfo"`
	Packages          []spdxPackage  `json:"packages"`
	Relationships     []spdxRelation `json:"relationships"`
}

type spdxCreation struct {
	Created  string   `json:"created"`
	Creators []string `json:"creators"`
}

type spdxPackage struct {
	SPDXID           string         `json:"SPDXID"`
	Name             string         `json:"name"`
	VersionInfo      string         `json:"versionInfo"`
	DownloadLocation string         `json:"downloadLocation"`
	FilesAnalyzed    bool           `json:"filesAnalyzed"`
	Checksums        []spdxChecksum `json:"checksums,omitempty"`
	ExternalRefs     []spdxRef      `json:"externalRefs,omitempty"`
	Comment          string         `json:"comment,omitempty"`
}

type spdxChecksum struct {
	Algorithm     string `json:"algorithm"`
	ChecksumValue string `json:"checksumValue"`
}

type spdxRef struct {
	ReferenceCategory string `json:"referenceCategory"`
	ReferenceType     string `json:"referenceType"`
	ReferenceLocator  string `json:"referenceLocator"`
}

type spdxRelation struct {
	Element string `json:"spdxElementId"`
	Type    string `json:"relationshipType"`
	Related string `json:"relatedSpdxElement"`
}

// SBOM returns an SPDX 2.3 JSON document of the binary at path, read from
// the build info the Go linker put in it: the binary (with its SHA-256),
// the Go standard library, and every module linked in, each with its
// package URL. o.Created dates it, so it is as reproducible as the image.
func SBOM(path string, o Options) ([]byte, error) {
	bi, err := buildinfo.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("sbom: build info of %s: %w", path, err)
	}
	bin, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("sbom: %w", err)
	}
	sum := sha256.Sum256(bin)
	main := spdxPackage{
		SPDXID: "SPDXRef-Package-safekeep-controller", Name: "safekeep-controller", VersionInfo: o.Version,
		DownloadLocation: o.Source, Checksums: []spdxChecksum{{"SHA256", hex.EncodeToString(sum[:])}},
		ExternalRefs: []spdxRef{purl(bi.Main.Path, o.Version)},
		Comment:      "built from " + bi.Path + " at commit " + o.Commit,
	}
	goVer := strings.TrimPrefix(bi.GoVersion, "go")
	stdlib := spdxPackage{
		SPDXID: "SPDXRef-Package-stdlib", Name: "stdlib", VersionInfo: goVer, DownloadLocation: "https://go.dev/dl/",
		ExternalRefs: []spdxRef{purl("stdlib", goVer)},
	}
	doc := spdxDoc{
		SPDXVersion: "SPDX-2.3", DataLicense: "CC0-1.0", SPDXID: "SPDXRef-DOCUMENT",
		Name:              "safekeep-controller-" + o.Version,
		DocumentNamespace: "https://safekeep.dev/spdx/safekeep-controller-" + url.PathEscape(o.Version) + "-" + hex.EncodeToString(sum[:8]),
		CreationInfo:      spdxCreation{Created: o.Created.UTC().Format(time.RFC3339), Creators: []string{"Tool: safekeep-hack-image"}},
		Packages:          []spdxPackage{main, stdlib},
		Relationships: []spdxRelation{
			{"SPDXRef-DOCUMENT", "DESCRIBES", main.SPDXID},
			{main.SPDXID, "DEPENDS_ON", stdlib.SPDXID},
		},
	}
	for i, dep := range bi.Deps {
		m := dep
		if m.Replace != nil {
			m = m.Replace
		}
		p := spdxPackage{
			SPDXID: fmt.Sprintf("SPDXRef-Package-go-module-%d", i+1), Name: dep.Path, VersionInfo: m.Version,
			DownloadLocation: "https://proxy.golang.org/" + m.Path + "/@v/" + m.Version + ".zip",
			ExternalRefs:     []spdxRef{purl(m.Path, m.Version)},
		}
		if m.Path != dep.Path {
			p.Comment = "replaced by " + m.Path + "@" + m.Version
		}
		if h := m.Sum; h != "" {
			p.Comment = strings.TrimSpace(p.Comment + " go.sum " + h)
		}
		doc.Packages = append(doc.Packages, p)
		doc.Relationships = append(doc.Relationships, spdxRelation{main.SPDXID, "DEPENDS_ON", p.SPDXID})
	}
	out, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("sbom: %w", err)
	}
	return append(out, '\n'), nil
}

// purl is the package URL of a Go module (https://github.com/package-url/purl-spec).
func purl(module, version string) spdxRef {
	return spdxRef{"PACKAGE-MANAGER", "purl", "pkg:golang/" + module + "@" + version}
}

// WriteSBOM writes SBOM(o.Binary, o) to SBOMFile in dir.
func WriteSBOM(dir string, o Options) error {
	b, err := SBOM(o.Binary, o)
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, SBOMFile), b, 0o644); err != nil {
		return fmt.Errorf("sbom: %w", err)
	}
	return nil
}
