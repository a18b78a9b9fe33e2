package kit

import (
	"github.com/prometheus/client_golang/prometheus"
	"sigs.k8s.io/controller-runtime/pkg/metrics"
)

// HiddenObjects counts what delete markers hide, or overwrites cover, of
// an OffsiteTarget's trusted seals: someone deleted or replaced sealed
// objects with the bucket's credentials (deploy/prometheus, docs/versioned.md). Schedules' retention
// passes set it; it lives here so the target's controller can drop the
// series when the target is deleted (ForgetTarget), or the alert would fire
// for a target that no longer exists.
var HiddenObjects = prometheus.NewGaugeVec(prometheus.GaugeOpts{
	Name: "safekeep_offsite_hidden_objects",
	Help: "Sealed objects (seal.json, manifests and needed volume blobs included) of an OffsiteTarget's trusted seals whose current version is a delete marker or other bytes put over the sealed version, as of the last retention pass over the bucket.",
}, []string{"namespace", "target"})

// VolumeBlobsDeleted and VolumeBytesDeleted count what retention deleted of
// an OffsiteTarget's sealed volume blobs: those no retained seal needed
// (docs/volumes.md). Schedules' retention passes add to them.
var (
	VolumeBlobsDeleted = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "safekeep_retention_volume_blobs_deleted_total",
		Help: "Sealed volume blobs of an OffsiteTarget that retention deleted once no retained seal needed them.",
	}, []string{"namespace", "target"})

	VolumeBytesDeleted = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "safekeep_retention_volume_bytes_deleted_total",
		Help: "Ciphertext bytes of the sealed volume blobs of an OffsiteTarget that retention deleted.",
	}, []string{"namespace", "target"})
)

func init() {
	metrics.Registry.MustRegister(HiddenObjects, VolumeBlobsDeleted, VolumeBytesDeleted)
}

// ForgetTarget drops the series of a deleted OffsiteTarget kept here.
func ForgetTarget(namespace, name string) {
	HiddenObjects.DeleteLabelValues(namespace, name)
	VolumeBlobsDeleted.DeleteLabelValues(namespace, name)
	VolumeBytesDeleted.DeleteLabelValues(namespace, name)
}
