package audit

import (
	"fmt"
	"strconv"
	"strings"
)

// Object names, relative to the offsite store's root (<prefix>/safekeep/v1/).
// See docs/audit.md.
const (
	// Dir holds one object per entry: <seq, 20 digits>-<16 hex of its
	// hash>.json.
	Dir = "audit/"
	// ClaimDir holds one claim per sequence number: seq/<seq, 20 digits>,
	// whose content is the whole signed entry. A writer takes a sequence
	// number by creating its claim; entry names sort before "seq/".
	ClaimDir = Dir + "seq/"

	seqDigits   = 20
	shortHash   = 16
	entrySuffix = ".json"
)

// EntryKey is the object name of the entry with seq and hash.
func EntryKey(seq uint64, hash string) string {
	return fmt.Sprintf("%s%0*d-%s%s", Dir, seqDigits, seq, short(hash), entrySuffix)
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
func parseEntryKey(key string) (seq uint64, hash string, ok bool) {
	rest, ok := strings.CutPrefix(key, Dir)
	if !ok {
		return 0, "", false
	}
	rest, ok = strings.CutSuffix(rest, entrySuffix)
	if !ok || len(rest) != seqDigits+1+shortHash || rest[seqDigits] != '-' {
		return 0, "", false
	}
	seq, err := strconv.ParseUint(rest[:seqDigits], 10, 64)
	if err != nil || seq == 0 {
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
