package volume

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"runtime/debug"

	"github.com/kopia/kopia/repo"
	"github.com/kopia/kopia/repo/content"
)

// openRepo opens the kopia repository in src read-only, with no local cache:
// kopia's config file (a storage handle, never a credential or the password)
// lives in a temporary folder removed before openRepo returns. The caller
// must Close the repository.
func openRepo(ctx context.Context, src blobSource, password string) (repo.DirectRepository, error) {
	st, unregister := register(src)
	dir, err := os.MkdirTemp("", "safekeep-kopia-")
	if err != nil {
		unregister()
		return nil, fmt.Errorf("open kopia repository %s: %w", src.name(), err)
	}
	defer func() { _ = os.RemoveAll(dir) }() // only the handle config is in it
	// The config kopia's Connect would write, without its verifying open:
	// each open derives the key from the password (scrypt), which is slow.
	ci := st.ConnectionInfo()
	lc := repo.LocalConfig{Storage: &ci, Caching: &content.CachingOptions{},
		ClientOptions: repo.ClientOptions{ReadOnly: true, Hostname: "safekeep", Username: "safekeep"}}
	data, err := json.Marshal(lc)
	if err == nil {
		err = os.WriteFile(filepath.Join(dir, "repository.config"), data, 0o600)
	}
	if err != nil {
		unregister()
		return nil, fmt.Errorf("open kopia repository %s: %w", src.name(), err)
	}
	cfg := filepath.Join(dir, "repository.config")
	r, err := repo.Open(ctx, cfg, password, &repo.Options{})
	if err != nil {
		unregister()
		return nil, fmt.Errorf("open kopia repository %s: %w", src.name(), err)
	}
	// kopia derived the key from the password with scrypt, whose 64 MiB
	// buffer (its default N=65536, r=8) is garbage now. Left to the
	// collector, it sets the heap goal at twice that, and a seal or a read
	// that allocates little never collects it: 140-170 MiB resident
	// instead of about 80.
	debug.FreeOSMemory()
	dr, ok := r.(repo.DirectRepository)
	if !ok {
		_ = r.Close(ctx) // not the kind we can read
		unregister()
		return nil, fmt.Errorf("open kopia repository %s: not a direct repository", src.name())
	}
	return &closingRepo{DirectRepository: dr, done: unregister}, nil
}

// closingRepo unregisters the storage handle when the repository closes.
type closingRepo struct {
	repo.DirectRepository
	done func()
}

func (c *closingRepo) Close(ctx context.Context) error {
	defer c.done()
	return c.DirectRepository.Close(ctx)
}
