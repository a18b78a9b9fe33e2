// Package drill restores a sealed offsite backup through Velero and proves
// that what came back is what was backed up: the engine of RestoreDrill and
// of the incident restore CLI.
//
// Run verifies the seal, decrypts every object checking each digest, stages
// the backup under a new name in a staging BackupStorageLocation so that
// Velero sees it as its own, restores it into mapped (scratch) namespaces,
// and checks the restored objects against the backup's resource list and
// tarball (see docs/drill.md). Cleanup removes what Run created.
package drill
