package bench

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"runtime/metrics"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/safekeep-dev/safekeep/audit"
	"github.com/safekeep-dev/safekeep/audit/audittest"
	"github.com/safekeep-dev/safekeep/storage"
)

// auditBenchEntries is the size of the benchmark's log; AUDIT_BENCH_ENTRIES
// overrides it (for a quick look).
const auditBenchEntries = 100_000

// auditTarget is the target for verifying or reading the log.
const auditTarget = 30 * time.Second

// benchAuditLog writes the benchmarks' log (auditBenchEntries entries, or
// AUDIT_BENCH_ENTRIES) into the plain bucket of a new VersityGW bed, and
// returns the bed, the number of entries and the head entry.
func benchAuditLog(b *testing.B) (*audittest.Bed, int, *audit.Entry) {
	b.Helper()
	n := auditBenchEntries
	if s := os.Getenv("AUDIT_BENCH_ENTRIES"); s != "" {
		var err error
		if n, err = strconv.Atoi(s); err != nil {
			b.Fatalf("AUDIT_BENCH_ENTRIES: %v", err)
		}
	}
	bed := audittest.NewBed(b)
	start := time.Now()
	head := audittest.WriteLog(b, bed.Plain, bed.Signer, n, audittest.WriteOptions{Concurrency: 64})
	b.Logf("setup: wrote %d entries (%d objects) in %s", n, 2*n, time.Since(start).Round(time.Second))
	return bed, n, head
}

// BenchmarkAuditLog writes a log of 100,000 entries (and its 100
// checkpoint segments) into VersityGW on loopback (not measured:
// concurrent PUTs), then measures audit.Verify and audit.Read of the whole
// log, and the listing of the entry objects alone (shard by shard), with GOMAXPROCS 1 in
// this process (the server runs apart, as it would), printing wall time,
// CPU time and peak heap of each, and the server's CPU time. Run with
// -benchtime 1x.
func BenchmarkAuditLog(b *testing.B) {
	bed, n, head := benchAuditLog(b)
	st := bed.Plain
	conc := 0 // the default
	if s := os.Getenv("AUDIT_BENCH_CONCURRENCY"); s != "" {
		conc, _ = strconv.Atoi(s)
	}
	ctx := b.Context()
	srv := serverPID(b, strings.TrimPrefix(bed.S3.Endpoint, "http://"))
	for b.Loop() {
		s0 := procCPU(b, srv)
		v := measureOneCore(b, "audit.Verify", func() {
			rep, err := audit.Verify(ctx, st, audit.VerifyOptions{Concurrency: conc})
			if err != nil {
				b.Fatalf("Verify: %v", err)
			}
			if rep.Entries != n || rep.HeadHash != head.Hash {
				b.Fatalf("Verify checked %d entries, head %s; want %d, %s", rep.Entries, rep.HeadHash, n, head.Hash)
			}
		})
		s1 := procCPU(b, srv)
		r := measureOneCore(b, "audit.Read", func() {
			count := 0
			for _, err := range audit.Read(ctx, st, audit.ReadOptions{Concurrency: conc}) {
				if err != nil {
					b.Fatalf("Read: %v", err)
				}
				count++
			}
			if count != n {
				b.Fatalf("Read returned %d entries, want %d", count, n)
			}
		})
		s2 := procCPU(b, srv)
		// The listing alone: what Verify and Read cannot do without (the
		// shard folders, then each shard, as Verify lists them).
		keys := 0
		ls := measureOneCore(b, "list audit/ (entries)", func() {
			dirs, _, err := storage.ListDir(ctx, st, audit.Dir)
			if err != nil {
				b.Fatalf("list: %v", err)
			}
			for _, d := range dirs {
				if d == audit.SegmentDir || d == audit.ClaimDir {
					continue
				}
				for _, err := range st.List(ctx, d) {
					if err != nil {
						b.Fatalf("list: %v", err)
					}
					keys++
				}
			}
		})
		s3 := procCPU(b, srv)
		b.Logf("versitygw CPU: %.2fs during Verify, %.2fs during Read, %.2fs listing %d keys alone (%.0f µs per key listed)",
			(s1 - s0).Seconds(), (s2 - s1).Seconds(), (s3 - s2).Seconds(), keys, float64((s3-s2).Microseconds())/float64(max(keys, 1)))
		b.Logf("%s", ls)
		for _, m := range []inProcess{v, r} {
			b.Logf("%s", m)
			b.Logf("%s", verdict(m.name+" wall / 30 s", m.wall.Seconds()/auditTarget.Seconds(), 1))
		}
		b.ReportMetric(v.wall.Seconds(), "verify-wall-s")
		b.ReportMetric(v.cpu.Seconds(), "verify-cpu-s")
		b.ReportMetric(v.peakHeapMB, "verify-peak-heap-MiB")
		b.ReportMetric(r.wall.Seconds(), "read-wall-s")
		b.ReportMetric(r.cpu.Seconds(), "read-cpu-s")
		b.ReportMetric(r.peakHeapMB, "read-peak-heap-MiB")
	}
}

// inProcess is what a function run in this process cost.
type inProcess struct {
	name       string
	wall, cpu  time.Duration
	peakHeapMB float64
}

func (m inProcess) String() string {
	return fmt.Sprintf("%-28s wall %7.2fs  cpu %7.2fs  peak heap %7.1f MiB (GOMAXPROCS 1)", m.name, m.wall.Seconds(), m.cpu.Seconds(), m.peakHeapMB)
}

// measureOneCore runs f with GOMAXPROCS 1 and returns its wall time, the
// process's CPU time (user + system, from rusage) and the peak of the live
// heap (runtime/metrics, sampled every 10 ms, after a GC before the start).
func measureOneCore(b *testing.B, name string, f func()) inProcess {
	b.Helper()
	prev := runtime.GOMAXPROCS(1)
	defer runtime.GOMAXPROCS(prev)
	runtime.GC()
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var peak uint64
	sample := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	read := func() {
		metrics.Read(sample)
		peak = max(peak, sample[0].Value.Uint64())
	}
	read()
	wg.Go(func() {
		t := time.NewTicker(10 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				read()
			}
		}
	})
	if dir := os.Getenv("AUDIT_BENCH_PROFILE"); dir != "" {
		pf, err := os.Create(filepath.Join(dir, name+".cpu"))
		if err != nil {
			b.Fatal(err)
		}
		if err := pprof.StartCPUProfile(pf); err != nil {
			b.Fatal(err)
		}
		defer func() {
			pprof.StopCPUProfile()
			_ = pf.Close()
		}()
	}
	cpu0 := cpuTime(b)
	start := time.Now()
	f()
	wall := time.Since(start)
	cpu := cpuTime(b) - cpu0
	close(stop)
	wg.Wait()
	read()
	return inProcess{name: name, wall: wall, cpu: cpu, peakHeapMB: float64(peak) / (1 << 20)}
}

// cpuTime is this process's user + system time so far.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatalf("getrusage: %v", err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// serverPID finds the VersityGW process listening on addr (its command
// line names the address), to read its CPU time.
func serverPID(b *testing.B, addr string) int {
	b.Helper()
	dirs, err := os.ReadDir("/proc")
	if err != nil {
		b.Fatal(err)
	}
	for _, d := range dirs {
		pid, err := strconv.Atoi(d.Name())
		if err != nil {
			continue
		}
		cmdline, err := os.ReadFile(filepath.Join("/proc", d.Name(), "cmdline"))
		if err == nil && strings.Contains(string(cmdline), "versitygw") && strings.Contains(string(cmdline), addr) {
			return pid
		}
	}
	b.Fatalf("no versitygw process serving %s", addr)
	return 0
}

// procCPU is the user + system time of process pid so far.
func procCPU(b *testing.B, pid int) time.Duration {
	b.Helper()
	data, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		b.Fatal(err)
	}
	// Fields after the command (which may hold spaces) start after ") ".
	f := strings.Fields(string(data[strings.LastIndexByte(string(data), ')')+2:]))
	utime, _ := strconv.ParseInt(f[11], 10, 64)
	stime, _ := strconv.ParseInt(f[12], 10, 64)
	const ticks = 100 // USER_HZ
	return time.Duration(utime+stime) * time.Second / ticks
}
