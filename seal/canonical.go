package seal

import "github.com/safekeep-dev/safekeep/internal/canonical"

// canonicalJSON re-encodes a JSON value in Safekeep's canonical form (see
// canonical.JSON): it is what seal signatures cover, so fields a newer
// writer adds are signed too.
func canonicalJSON(data []byte) ([]byte, error) { return canonical.JSON(data) }
