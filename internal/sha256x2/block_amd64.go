//go:build amd64 && !purego

package sha256x2

import "golang.org/x/sys/cpu"

//go:noescape
func blockx2(a *[8]uint32, pa []byte, b *[8]uint32, pb []byte)

func cpuid7ebx() uint32

// haveX2: the SHA extensions (CPUID leaf 7, EBX bit 29), with the SSSE3,
// SSE4.1 and AVX that blockx2 also uses.
var haveX2 = cpu.X86.HasAVX && cpu.X86.HasSSE41 && cpu.X86.HasSSSE3 && cpuid7ebx()&(1<<29) != 0
