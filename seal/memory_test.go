package seal_test

import (
	"io"
	"math/rand/v2"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/safekeep-dev/safekeep/seal"
	"github.com/safekeep-dev/safekeep/seal/sealtest"
	"github.com/safekeep-dev/safekeep/storage"
)

// TestSealMemoryBounded seals a 256 MiB object and samples the heap while it
// runs: the peak must stay far below the object's size (a few buffers per
// object in flight), showing memory does not grow with the backup.
func TestSealMemoryBounded(t *testing.T) {
	if testing.Short() {
		t.Skip("seals 256 MiB")
	}
	const size = 256 << 20
	b := sealtest.NewBed(t, false)
	ctx := t.Context()
	objs := b.VeleroBackup(t, "big", "Completed", 1<<10)
	key := seal.SourcePrefix("big") + "big.tar.gz"
	rng := io.LimitReader(rand.NewChaCha8([32]byte{1}), size)
	if _, err := b.Source.Put(ctx, key, rng, storage.PutOptions{Size: size}); err != nil {
		t.Fatalf("put source: %v", err)
	}

	runtime.GC()
	var base runtime.MemStats
	runtime.ReadMemStats(&base)
	var peak atomic.Uint64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		var ms runtime.MemStats
		for {
			runtime.ReadMemStats(&ms)
			if ms.HeapInuse > peak.Load() {
				peak.Store(ms.HeapInuse)
			}
			select {
			case <-stop:
				return
			case <-tick.C:
			}
		}
	})
	start := time.Now()
	sl, err := b.Sealer().Seal(ctx, "nightly", "big")
	elapsed := time.Since(start)
	close(stop)
	wg.Wait()
	if err != nil {
		t.Fatalf("Seal: %v", err)
	}
	if len(sl.Objects) != len(objs) {
		t.Errorf("%d objects sealed, want %d", len(sl.Objects), len(objs))
	}
	growth := int64(peak.Load()) - int64(base.HeapInuse)
	t.Logf("sealed %d MiB in %v (%.0f MiB/s); heap in use: %.1f MiB before, %.1f MiB peak (+%.1f MiB)",
		size>>20, elapsed.Round(time.Millisecond), float64(size)/(1<<20)/elapsed.Seconds(),
		float64(base.HeapInuse)/(1<<20), float64(peak.Load())/(1<<20), float64(growth)/(1<<20))
	if limit := int64(64 << 20); growth > limit {
		t.Errorf("heap grew by %d MiB while sealing a %d MiB object; want under %d MiB", growth>>20, size>>20, limit>>20)
	}
}
