package backupschedule

import (
	"sync"
	"time"
)

// createdKeep is how long this process remembers a Velero Backup it
// created: long past any cache lag or retried status patch.
const createdKeep = time.Hour

// createdBackups are the Velero Backups this process created recently.
// A create refused because the Backup exists is then told apart: made by
// this process (the status that records it was not yet read back, or its
// patch failed) or made before a restart (or by an earlier leader).
type createdBackups struct {
	mu    sync.Mutex
	names map[string]time.Time
}

// add remembers name, created at now, and forgets names older than
// createdKeep.
func (c *createdBackups) add(name string, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.names == nil {
		c.names = map[string]time.Time{}
	}
	for n, at := range c.names {
		if now.Sub(at) > createdKeep {
			delete(c.names, n)
		}
	}
	c.names[name] = now
}

// has reports whether this process created name.
func (c *createdBackups) has(name string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	_, ok := c.names[name]
	return ok
}
