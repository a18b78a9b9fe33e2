// Package volume reads the volume data of a Velero backup: the PodVolumeBackups
// Velero recorded for it, and the kopia repository (one per backup storage
// location and namespace, under <bslPrefix>/kopia/<namespace>/) that holds
// their snapshots. It opens that repository read-only with kopia itself (the
// fork Velero pins) and computes the set of repository blobs that restores
// exactly the backup's snapshots. See docs/volumes.md.
package volume
