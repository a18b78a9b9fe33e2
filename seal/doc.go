// Package seal copies Velero backups offsite, encrypted and sealed, and
// checks sealed copies.
//
// A Sealer streams every object of a Velero backup from its storage location
// to the offsite store (GET, SHA-256 of the plaintext, age encryption,
// SHA-256 of the ciphertext, PUT with object-lock retention), then writes the
// encrypted manifest (plaintext digests and the resource list, see
// docs/manifest.md) and, last, the signed seal.json (ciphertext digests and
// sizes, recipient fingerprints, times; see docs/seal.md). Sealing is
// idempotent, and a run stopped at any point leaves no seal.json and is
// completed by the next run.
//
// Verify checks a sealed backup without a key (signature, every object's
// ciphertext) or with an identity (every plaintext too); List lists sealed
// and incomplete backups; Open gives the restore package verified, decrypted
// access to a backup's objects. The offsite layout is in docs/layout.md.
package seal
