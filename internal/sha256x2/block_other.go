//go:build !amd64 || purego

package sha256x2

const haveX2 = false

func blockx2(a *[8]uint32, pa []byte, b *[8]uint32, pb []byte) {
	panic("sha256x2: no two-message block function on this platform")
}
