package drill

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"

	"golang.org/x/sync/errgroup"

	"github.com/safekeep-dev/safekeep/crypto"
	"github.com/safekeep-dev/safekeep/seal"
	"github.com/safekeep-dev/safekeep/storage"
)

// maxBackupJSON bounds velero-backup.json, which is read into memory to be
// rewritten.
const maxBackupJSON = 16 << 20

// errPutDone ends the pipe of an upload that returned.
var errPutDone = errors.New("upload ended")

// finding is what staging found wrong with one object: it fails a check
// (CheckSeal or CheckDecrypt) rather than the run.
type finding struct {
	check  string
	object string
	err    error
}

// classify tells a finding about an object from a failure to run: a
// ciphertext that is missing or differs from the seal fails CheckSeal; one
// that does not decrypt or whose plaintext differs from the manifest fails
// CheckDecrypt. Anything else is not a finding.
func classify(object string, err error) (finding, bool) {
	switch {
	case errors.Is(err, seal.ErrObjectMissing), errors.Is(err, seal.ErrObjectMismatch),
		errors.Is(err, seal.ErrNotSealed), errors.Is(err, seal.ErrBadSeal):
		return finding{check: CheckSeal, object: object, err: err}, true
	case errors.Is(err, seal.ErrPlaintextMismatch), errors.Is(err, seal.ErrBadManifest),
		errors.Is(err, crypto.ErrCorrupt), errors.Is(err, crypto.ErrWrongIdentity):
		return finding{check: CheckDecrypt, object: object, err: err}, true
	}
	return finding{}, false
}

// staged is what staging produced.
type staged struct {
	// backupJSON is the rewritten velero-backup.json, not yet uploaded.
	backupJSON []byte
	// tarball is what the backup's tarball holds, parsed as it streamed.
	tarball *tarballFacts
	// findings are the objects that failed verification.
	findings []finding
}

// stage decrypts every object of the opened backup into the staging
// location under the staged name, streaming (the tarball is parsed on the
// way for the checks), except velero-backup.json, which is rewritten and
// returned for upload once everything else checked out.
func (r *runner) stage(ctx context.Context, opened *seal.Opened) (*staged, error) {
	out := &staged{}
	var mu sync.Mutex
	record := func(f finding) {
		mu.Lock()
		defer mu.Unlock()
		out.findings = append(out.findings, f)
	}
	tarName := r.opts.Backup + ".tar.gz"
	p := r.progress
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(r.opts.Concurrency)
	for _, o := range opened.Manifest.Objects {
		g.Go(func() error {
			err := seal.RetryRead(gctx, func() error { return r.stageOne(gctx, opened, o, tarName, &mu, out) })
			if f, ok := classify(o.Name, err); ok {
				record(f)
				return nil
			}
			if err != nil {
				return fmt.Errorf("stage %s: %w", o.Name, err)
			}
			p.objectDone()
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	if len(out.findings) > 0 {
		return out, nil
	}
	if out.backupJSON == nil {
		return nil, fmt.Errorf("%w: the backup has no %s", errNotVelero, seal.VeleroBackupJSON)
	}
	if out.tarball == nil {
		return nil, fmt.Errorf("%w: the backup has no %s", errNotVelero, tarName)
	}
	return out, nil
}

// stageOne stages one object (see stage), keeping what it yields in out.
func (r *runner) stageOne(ctx context.Context, opened *seal.Opened, o seal.Object, tarName string, mu *sync.Mutex, out *staged) error {
	switch o.Name {
	case seal.VeleroBackupJSON:
		data, err := r.readBackupJSON(ctx, opened)
		if err != nil {
			return err
		}
		mu.Lock()
		out.backupJSON = data
		mu.Unlock()
	case tarName:
		facts, err := r.stageObject(ctx, opened, o, true)
		if err != nil {
			return err
		}
		mu.Lock()
		out.tarball = facts
		mu.Unlock()
	default:
		_, err := r.stageObject(ctx, opened, o, false)
		return err
	}
	return nil
}

// errNotVelero: the sealed backup lacks what Velero needs to restore it.
var errNotVelero = errors.New("sealed backup is not a restorable velero backup")

// stageObject stages one object, its digests checked first: nothing of a
// plaintext reaches the staging bucket before the ciphertext matched the
// seal and the plaintext the manifest. An object of at most
// maxStagedInMemory bytes is read once into memory, checked, then put; a
// larger one is read twice, once to check (decrypting to nowhere), then
// again streaming into the staging PUT (its size is known, so one
// request) and, with parse, the tarball parser. The second read is checked
// again: an object changed in between fails, and its upload is aborted.
func (r *runner) stageObject(ctx context.Context, opened *seal.Opened, o seal.Object, parse bool) (*tarballFacts, error) {
	key := stagedKey(r.opts.StagedName, r.opts.Backup, o.Name)
	if o.Size <= maxStagedInMemory {
		var buf bytes.Buffer
		if _, err := opened.ReadObject(ctx, o.Name, &buf, r.progress.bytes); err != nil {
			return nil, err
		}
		var facts *tarballFacts
		if parse {
			parser := startTarballParser()
			_, werr := parser.Write(buf.Bytes())
			facts = parser.finish(werr)
		}
		if _, err := storage.PutAgain(ctx, r.opts.Staging, key, buf.Bytes(), storage.PutOptions{}); err != nil {
			return nil, fmt.Errorf("upload to the staging location: %w", err)
		}
		return facts, nil
	}
	if _, err := opened.ReadObject(ctx, o.Name, io.Discard, r.progress.bytes); err != nil {
		return nil, err
	}
	return r.streamObject(ctx, opened, o, key, parse)
}

// streamObject is the second read of a large object: offsite GET, decrypt,
// staging PUT, and with parse the tarball parser on a second branch.
func (r *runner) streamObject(ctx context.Context, opened *seal.Opened, o seal.Object, key string, parse bool) (*tarballFacts, error) {
	pr, pw := io.Pipe()
	putDone := make(chan error, 1)
	go func() {
		_, err := r.opts.Staging.Put(ctx, key, pr, storage.PutOptions{Size: o.Size})
		if err == nil {
			err = errPutDone
		}
		pr.CloseWithError(err) // writers blocked on a failed upload return
		putDone <- err
	}()
	var w io.Writer = pw
	var parser *tarballParser
	if parse {
		parser = startTarballParser()
		w = io.MultiWriter(pw, parser)
	}
	_, readErr := opened.ReadObject(ctx, o.Name, w, nil) // counted by the first read
	pw.CloseWithError(readErr)                           // nil: the upload sees the end of the body
	var facts *tarballFacts
	if parser != nil {
		facts = parser.finish(readErr)
	}
	putErr := <-putDone
	if errors.Is(putErr, errPutDone) {
		putErr = nil
	}
	if errors.Is(putErr, storage.ErrStoredWrong) {
		// Stored wrong: removed, and retryable, so the read stages it again.
		putErr = storage.RemoveStoredWrong(ctx, r.opts.Staging, key, putErr)
	}
	switch {
	case readErr != nil:
		return nil, readErr
	case putErr != nil:
		return nil, fmt.Errorf("upload to the staging location: %w", putErr)
	}
	return facts, nil
}

// readBackupJSON decrypts velero-backup.json and rewrites it for the
// staged name (see stagedBackupJSON).
func (r *runner) readBackupJSON(ctx context.Context, opened *seal.Opened) ([]byte, error) {
	var buf cappedBuffer
	if _, err := opened.ReadObject(ctx, seal.VeleroBackupJSON, &buf, r.progress.bytes); err != nil {
		return nil, err
	}
	return r.stagedBackupJSON(buf.data)
}

// stagedKey is the staging key of Velero object name of backup once staged
// under staged: backups/<staged>/<name>, where a name that starts with the
// backup's name has it replaced by the staged name (<b>.tar.gz,
// <b>-logs.gz, ...), as Velero would have named it.
func stagedKey(staged, backup, name string) string {
	return "backups/" + staged + "/" + stagedObjectName(staged, backup, name)
}

func stagedObjectName(staged, backup, name string) string {
	if rest, ok := strings.CutPrefix(name, backup); ok && (strings.HasPrefix(rest, ".") || strings.HasPrefix(rest, "-")) {
		return staged + rest
	}
	return name
}

// cappedBuffer collects at most maxBackupJSON bytes.
type cappedBuffer struct{ data []byte }

func (c *cappedBuffer) Write(p []byte) (int, error) {
	if len(c.data)+len(p) > maxBackupJSON {
		return 0, fmt.Errorf("%s is larger than %d bytes", seal.VeleroBackupJSON, maxBackupJSON)
	}
	c.data = append(c.data, p...)
	return len(p), nil
}

// maxStagedInMemory is the largest plaintext staged from memory after one
// read; a larger object is read twice: once to check, once to stage.
const maxStagedInMemory = 4 << 20
