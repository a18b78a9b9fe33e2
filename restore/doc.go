// Package restore brings sealed backups back from the offsite store: it
// verifies the seal, decrypts each object with the responder's or the
// drill's age identity and checks every digest while writing.
package restore
