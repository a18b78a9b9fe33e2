// Package bench holds benchmarks that compare Safekeep with its peers side by
// side in one run, on the real test bed (VersityGW on loopback). Run them with
// `make bench`; they print wall time, CPU seconds and peak RSS of each tool and
// the ratios against the targets.
package bench
