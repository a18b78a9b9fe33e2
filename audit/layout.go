package audit

import (
	"fmt"
	"strconv"
	"strings"
)

// Object names, relative to the offsite store's root (<prefix>/safekeep/v1/).
// See docs/audit.md.
const (
	// Dir holds one object per entry, in a folder (a shard) per
	// ShardSize sequence numbers: <shard, 17 digits>/<seq, 20 digits>-<16
	// hex of its hash>.json, shard = (seq-1)/ShardSize. Shards keep every
	// folder small: S3 servers that store a folder as a directory (VersityGW's
	// posix backend) read the whole folder for each page of a listing.
	Dir = "audit/"
	// ClaimDir holds one claim per sequence number: seq/<seq, 20 digits>,
	// whose content is the whole signed entry. A writer takes a sequence
	// number by creating its claim; entry names sort before "seq/".
	ClaimDir = Dir + "seq/"

	// ShardSize is how many sequence numbers share an entry folder: a
	// fixed part of the layout (entries 1..1000 are in shard 0, as in the
	// first default segment), not Options.SegmentSize.
	ShardSize = 1000

	seqDigits   = 20
	shardDigits = 17 // (2^64-1)/1000 has 17 digits
	shortHash   = 16
	entrySuffix = ".json"
)

// EntryKey is the object name of the entry with seq and hash.
func EntryKey(seq uint64, hash string) string {
	return EntryPrefix(seq) + short(hash) + entrySuffix
}

// EntryPrefix is what the object name of entry seq starts with, whatever
// its hash: "audit/<shard>/<seq>-".
func EntryPrefix(seq uint64) string {
	return fmt.Sprintf("%s%0*d-", shardDir(shardOf(seq)), seqDigits, seq)
}

// shardOf is the shard of entry seq (seq >= 1).
func shardOf(seq uint64) uint64 { return (seq - 1) / ShardSize }

// shardDir is the folder of shard n: "audit/<n, 17 digits>/".
func shardDir(n uint64) string { return fmt.Sprintf("%s%0*d/", Dir, shardDigits, n) }

// parseShardDir reads the shard number of a folder under Dir.
func parseShardDir(dir string) (uint64, bool) {
	rest, ok := strings.CutPrefix(dir, Dir)
	if !ok {
		return 0, false
	}
	rest, ok = strings.CutSuffix(rest, "/")
	if !ok || len(rest) != shardDigits || !allDigits(rest) {
		return 0, false
	}
	n, err := strconv.ParseUint(rest, 10, 64)
	return n, err == nil && n <= (1<<64-2)/ShardSize
}

func allDigits(s string) bool {
	for i := range len(s) {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// ClaimKey is the object name of the claim of seq.
func ClaimKey(seq uint64) string {
	return fmt.Sprintf("%s%0*d", ClaimDir, seqDigits, seq)
}

// short is the first 16 hex digits of a hash (the whole rest when shorter).
func short(hash string) string {
	h := strings.TrimPrefix(hash, HashPrefix)
	return h[:min(len(h), shortHash)]
}

// parseEntryKey reads seq and the short hash from an entry's object name.
// The name must be in the shard of its seq: an object in another shard is
// not an entry's (Verify reports it malformed).
func parseEntryKey(key string) (seq uint64, hash string, ok bool) {
	rest, ok := strings.CutPrefix(key, Dir)
	if !ok || len(rest) < shardDigits+1 || rest[shardDigits] != '/' {
		return 0, "", false
	}
	shard := rest[:shardDigits+1]
	rest, ok = strings.CutSuffix(rest[shardDigits+1:], entrySuffix)
	if !ok || len(rest) != seqDigits+1+shortHash || rest[seqDigits] != '-' || !allDigits(rest[:seqDigits]) {
		return 0, "", false
	}
	seq, err := strconv.ParseUint(rest[:seqDigits], 10, 64)
	if err != nil || seq == 0 || Dir+shard != shardDir(shardOf(seq)) {
		return 0, "", false
	}
	hash = rest[seqDigits+1:]
	if !validHash(HashPrefix + hash + strings.Repeat("0", 64-shortHash)) {
		return 0, "", false
	}
	return seq, hash, true
}

// parseClaimKey reads seq from a claim's object name.
func parseClaimKey(key string) (uint64, bool) {
	rest, ok := strings.CutPrefix(key, ClaimDir)
	if !ok || len(rest) != seqDigits {
		return 0, false
	}
	seq, err := strconv.ParseUint(rest, 10, 64)
	return seq, err == nil && seq > 0
}

// Checkpoint segments (docs/audit.md, "Segments"): the stored bytes of a
// run of entries in one object, one entry a line, so that a reader fetches
// one object per DefaultSegmentSize entries instead of one per entry.
const (
	// SegmentDir holds segments: <first seq, 20 digits>-<last seq, 20
	// digits>.jsonl. It sorts after every entry name and before ClaimDir.
	SegmentDir = Dir + "segments/"
	// DefaultSegmentSize is how many entries a segment holds: the writer
	// writes one after each entry whose seq is a multiple of it.
	DefaultSegmentSize = 1000
	// maxSegmentEntries bounds the entries a segment's name may span.
	maxSegmentEntries = 100_000

	segmentSuffix = ".jsonl"
)

// SegmentKey is the object name of the segment of entries first..last.
func SegmentKey(first, last uint64) string {
	return fmt.Sprintf("%s%0*d-%0*d%s", SegmentDir, seqDigits, first, seqDigits, last, segmentSuffix)
}

// parseSegmentKey reads the range of a segment's object name.
func parseSegmentKey(key string) (first, last uint64, ok bool) {
	rest, ok := strings.CutPrefix(key, SegmentDir)
	if !ok {
		return 0, 0, false
	}
	rest, ok = strings.CutSuffix(rest, segmentSuffix)
	if !ok || len(rest) != 2*seqDigits+1 || rest[seqDigits] != '-' {
		return 0, 0, false
	}
	first, err1 := strconv.ParseUint(rest[:seqDigits], 10, 64)
	last, err2 := strconv.ParseUint(rest[seqDigits+1:], 10, 64)
	if err1 != nil || err2 != nil || first == 0 || last < first || last-first >= maxSegmentEntries {
		return 0, 0, false
	}
	return first, last, true
}
