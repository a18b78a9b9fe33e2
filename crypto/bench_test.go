//go:build unix

package crypto

import (
	"bytes"
	"crypto/sha256"
	"io"
	"syscall"
	"testing"
	"time"
)

// benchSize is how much plaintext each benchmark iteration streams.
const benchSize = 64 << 20

// The per-byte cost of sealing, stage by stage and combined. Run on one core:
//
//	go test -run XXX -bench . -benchtime 3x -cpu 1 ./crypto
//
// Besides the wall-clock MB/s, each reports cpu-MB/s: bytes over the
// process's CPU time, steadier than wall time on a shared machine.

// BenchmarkEncryptDigest is the sealer's pipeline: SHA-256 of the plaintext,
// age encryption, SHA-256 of the ciphertext.
func BenchmarkEncryptDigest(b *testing.B) {
	rs := recipientsOf(b, "x25519")
	plain := plaintext(benchSize)
	b.SetBytes(benchSize)
	b.ReportAllocs()
	cpu := startCPU(b)
	for b.Loop() {
		if _, err := EncryptDigest(io.Discard, bytes.NewReader(plain), rs); err != nil {
			b.Fatal(err)
		}
	}
	cpu.report(b)
}

// BenchmarkAgeEncrypt is age encryption alone, in 1 MiB writes.
func BenchmarkAgeEncrypt(b *testing.B) {
	rs := recipientsOf(b, "x25519")
	plain := plaintext(benchSize)
	b.SetBytes(benchSize)
	b.ReportAllocs()
	cpu := startCPU(b)
	for b.Loop() {
		w, err := Encrypt(io.Discard, rs)
		if err != nil {
			b.Fatal(err)
		}
		for p := plain; len(p) > 0; p = p[copyBlock:] {
			if _, err := w.Write(p[:copyBlock]); err != nil {
				b.Fatal(err)
			}
		}
		if err := w.Close(); err != nil {
			b.Fatal(err)
		}
	}
	cpu.report(b)
}

// BenchmarkSHA256 is one of the pipeline's two digests alone.
func BenchmarkSHA256(b *testing.B) {
	plain := plaintext(benchSize)
	b.SetBytes(benchSize)
	b.ReportAllocs()
	cpu := startCPU(b)
	for b.Loop() {
		h := sha256.New()
		for p := plain; len(p) > 0; p = p[copyBlock:] {
			h.Write(p[:copyBlock])
		}
		h.Sum(nil)
	}
	cpu.report(b)
}

// BenchmarkDecryptDigest is the drill's and the restore's pipeline: SHA-256
// of the ciphertext, age decryption, SHA-256 of the plaintext.
func BenchmarkDecryptDigest(b *testing.B) {
	rs := recipientsOf(b, "x25519")
	var file bytes.Buffer
	if _, err := EncryptDigest(&file, bytes.NewReader(plaintext(benchSize)), rs); err != nil {
		b.Fatal(err)
	}
	ids := identityOf(b, "x25519")
	b.SetBytes(benchSize)
	b.ReportAllocs()
	cpu := startCPU(b)
	for b.Loop() {
		if _, err := DecryptDigest(io.Discard, bytes.NewReader(file.Bytes()), ids); err != nil {
			b.Fatal(err)
		}
	}
	cpu.report(b)
}

type cpuClock struct{ start time.Duration }

func processCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func startCPU(b *testing.B) cpuClock {
	b.ResetTimer()
	return cpuClock{start: processCPU(b)}
}

// report adds cpu-MB/s: bytes processed per second of process CPU time.
func (c cpuClock) report(b *testing.B) {
	used := processCPU(b) - c.start
	if used > 0 {
		b.ReportMetric(float64(benchSize)*float64(b.N)/1e6/used.Seconds(), "cpu-MB/s")
	}
}
