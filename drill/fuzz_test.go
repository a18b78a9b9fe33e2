package drill

import (
	"bytes"
	"compress/gzip"
	"testing"
)

// FuzzTarballParser feeds the drill's streaming tarball parser (it reads a
// decrypted object of the bucket): it never panics or hangs, and a
// malformed tarball leaves no facts but its error.
func FuzzTarballParser(f *testing.F) {
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	_, _ = zw.Write([]byte("not a tar")) // a bytes.Buffer never fails
	_ = zw.Close()
	f.Add(gz.Bytes())
	f.Add([]byte{0x1f, 0x8b, 0x08})
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		p := startTarballParser()
		if _, err := p.Write(data); err != nil {
			t.Fatalf("write: %v: the parser must read to the end", err)
		}
		facts := p.finish(nil)
		if facts == nil {
			t.Fatal("finish returned no facts")
		}
	})
}
