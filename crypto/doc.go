// Package crypto holds Safekeep's key handling: age recipients and identities
// (X25519 and SSH keys, through age's own packages), streaming encryption and
// decryption that never holds a whole object in memory, fingerprints that
// record which keys a seal used without revealing them, and ed25519 signing of
// seal documents and audit entries.
//
// Every file this package encrypts is a standard age file: `age -d -i key.txt`
// decrypts it.
package crypto
