// Package crypto holds Safekeep's key handling: age recipients and identities
// (X25519, post-quantum hybrid, and SSH keys, through age's own packages),
// streaming encryption and decryption that never holds a whole object in
// memory, fingerprints that record which keys a seal used without revealing
// them, and ed25519 signing of seal documents and audit entries.
//
// Every file this package encrypts is a standard age file: `age -d -i key.txt`
// decrypts it, and EncryptedSize tells its exact length before it is written,
// so it can be uploaded with a known Content-Length. EncryptDigest and
// DecryptDigest are the per-byte pipelines of sealing and of checking a seal:
// they stream and compute the SHA-256 of both the plaintext and the age file.
//
// Errors are checked with errors.Is: ErrInvalidRecipient, ErrNoRecipients,
// ErrNoIdentities, ErrWrongIdentity, ErrCorrupt, ErrBadSignature. No error,
// and no String or Format of an Identity or SigningKey, contains secret key
// material.
package crypto
