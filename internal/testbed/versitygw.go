package testbed

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/safekeep-dev/safekeep/storage"
)

const (
	// s3StartTimeout bounds how long StartS3 waits for VersityGW to answer.
	s3StartTimeout = 20 * time.Second
	// s3StopTimeout bounds how long Stop waits after SIGTERM before killing.
	s3StopTimeout = 10 * time.Second
	// s3Region is the region VersityGW serves by default.
	s3Region = "us-east-1"
	// logTailBytes is how much of the server's output a failed test prints.
	logTailBytes = 4096
)

// S3Server is a VersityGW process serving S3 on loopback from a posix folder,
// in single-account mode with random root credentials.
type S3Server struct {
	// Endpoint is the server's URL, http://127.0.0.1:PORT.
	Endpoint string
	// AccessKey and SecretKey are the root credentials (random per server).
	AccessKey, SecretKey string
	// Dir is the posix folder holding the buckets (a folder per bucket).
	Dir string
	// VersionsDir is the posix backend's versioning folder, or "" when the
	// server keeps no versions (see S3Versioned).
	VersionsDir string

	bin, addr, logPath string
	keepAlive          bool
	versioned          bool

	mu   sync.Mutex
	proc *s3Process // nil when stopped
}

type s3Process struct {
	cmd  *exec.Cmd
	done chan struct{} // closed when the process has exited
	err  error         // Wait's result, set before done closes
}

// StartS3 starts bin/versitygw on a free loopback port with a fresh data
// folder and random credentials, waits (at most 20 s) until it answers HTTP,
// and stops it when the test ends. When the test failed, the tail of the
// server's output is logged.
func StartS3(tb TB, opts ...S3Option) *S3Server {
	tb.Helper()
	skipShort(tb)
	s := &S3Server{
		AccessKey: randomKey(tb, 10),
		SecretKey: randomKey(tb, 20),
		Dir:       tb.TempDir(),
		bin:       Bin(tb, "versitygw"),
		logPath:   filepath.Join(tb.TempDir(), "versitygw.log"),
	}
	for _, o := range opts {
		o(s)
	}
	if s.versioned {
		s.VersionsDir = tb.TempDir()
	}
	tb.Cleanup(func() {
		if err := s.stop(); err != nil {
			tb.Errorf("testbed: stop versitygw: %v", err)
		}
		if tb.Failed() {
			tb.Logf("versitygw output (tail of %s):\n%s", s.logPath, s.LogTail())
		}
	})
	var err error
	for range 3 { // a free port can be taken before we bind it: try another
		s.addr = "127.0.0.1:" + strconv.Itoa(FreePort(tb))
		s.Endpoint = "http://" + s.addr
		if err = s.start(tb.Context()); err == nil {
			return s
		}
	}
	tb.Fatalf("testbed: start versitygw: %v\n%s", err, s.LogTail())
	return nil
}

// S3Option configures StartS3.
type S3Option func(*S3Server)

// S3KeepAlive keeps client connections open between requests, as S3
// services do (VersityGW closes each one after its answer by default:
// every request then dials anew). For benchmarks of many small requests.
func S3KeepAlive() S3Option { return func(s *S3Server) { s.keepAlive = true } }

// S3Versioned turns on VersityGW's object versioning (its posix backend's
// --versioning-dir, a folder outside the data folder): buckets created with
// object lock then have versioning Enabled, as on AWS, and a DELETE without
// a version ID adds a delete marker instead of being refused.
func S3Versioned() S3Option { return func(s *S3Server) { s.versioned = true } }

// Stop stops the server (SIGTERM, then kill after 10 s). Its data stays, and
// Restart brings it back on the same endpoint. Stopping twice is harmless.
func (s *S3Server) Stop(tb TB) {
	tb.Helper()
	if err := s.stop(); err != nil {
		tb.Fatalf("testbed: stop versitygw: %v", err)
	}
}

// Restart starts a stopped server again on the same endpoint, with the same
// data and credentials, and waits until it answers.
func (s *S3Server) Restart(tb TB) {
	tb.Helper()
	if err := s.stop(); err != nil {
		tb.Fatalf("testbed: stop versitygw: %v", err)
	}
	var err error
	deadline := time.Now().Add(s3StartTimeout)
	for time.Now().Before(deadline) { // the old socket may linger a moment
		if err = s.start(tb.Context()); err == nil {
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
	tb.Fatalf("testbed: restart versitygw: %v\n%s", err, s.LogTail())
}

// start runs the server and waits until it answers. ctx bounds the wait; the
// process lives until stop, not until ctx ends.
func (s *S3Server) start(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.proc != nil {
		return errors.New("already running")
	}
	logf, err := os.OpenFile(s.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	defer func() { _ = logf.Close() }() // the child holds its own descriptor; ours has written all it will
	if _, err := fmt.Fprintf(logf, "--- start %s on %s\n", time.Now().Format(time.RFC3339Nano), s.addr); err != nil {
		return err
	}
	// Credentials go through the environment, not argv, so ps never shows them.
	// Not CommandContext: the server outlives the context of the test that
	// starts it, and stop ends it gracefully (SIGTERM first, then kill).
	args := []string{"--port", s.addr}
	if s.keepAlive {
		args = append(args, "--keep-alive")
	}
	args = append(args, "posix")
	if s.VersionsDir != "" {
		args = append(args, "--versioning-dir", s.VersionsDir)
	}
	cmd := exec.Command(s.bin, append(args, s.Dir)...) //nolint:noctx // lifetime is stop's, see above
	cmd.Env = ChildEnv("ROOT_ACCESS_KEY_ID="+s.AccessKey, "ROOT_SECRET_ACCESS_KEY="+s.SecretKey)
	cmd.Stdout, cmd.Stderr = logf, logf
	// A test binary killed mid-run must not leave the server behind.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return err
	}
	p := &s3Process{cmd: cmd, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	if err := waitHTTP(ctx, s.Endpoint, p.done, s3StartTimeout); err != nil {
		_ = kill(p)
		return err
	}
	s.proc = p
	return nil
}

func (s *S3Server) stop() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.proc
	if p == nil {
		return nil
	}
	s.proc = nil
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
		return nil
	case <-time.After(s3StopTimeout):
		return kill(p)
	}
}

func kill(p *s3Process) error {
	_ = p.cmd.Process.Kill()
	select {
	case <-p.done:
		return nil
	case <-time.After(s3StopTimeout):
		return fmt.Errorf("pid %d did not exit after kill", p.cmd.Process.Pid)
	}
}

// waitHTTP polls url until any HTTP answer arrives, the process exits (done
// closes), ctx ends or timeout passes.
func waitHTTP(ctx context.Context, url string, done <-chan struct{}, timeout time.Duration) error {
	client := &http.Client{Timeout: time.Second}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	deadline := time.Now().Add(timeout)
	for {
		select {
		case <-done:
			return errors.New("versitygw exited before answering")
		case <-ctx.Done():
			return ctx.Err()
		default:
		}
		resp, err := client.Do(req)
		if err == nil {
			_ = resp.Body.Close() // any answer will do; the body is not read
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("no answer from %s within %s: %w", url, timeout, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// LogTail returns the last few KiB of the server's output.
func (s *S3Server) LogTail() string {
	b, err := os.ReadFile(s.logPath)
	if err != nil {
		return "(no output: " + err.Error() + ")"
	}
	if len(b) > logTailBytes {
		b = b[len(b)-logTailBytes:]
	}
	return string(b)
}

// Minio returns a raw minio-go client for the server, for tests that need
// access around the storage package (tampering, inspection).
func (s *S3Server) Minio(tb TB) *minio.Client {
	tb.Helper()
	c, err := minio.New(strings.TrimPrefix(s.Endpoint, "http://"), &minio.Options{
		Creds:        credentials.NewStaticV4(s.AccessKey, s.SecretKey, ""),
		Region:       s3Region,
		BucketLookup: minio.BucketLookupPath,
	})
	if err != nil {
		tb.Fatalf("testbed: minio client: %v", err)
	}
	return c
}

// CreateBucket creates bucket name, with object lock enabled when objectLock.
func (s *S3Server) CreateBucket(tb TB, name string, objectLock bool) {
	tb.Helper()
	err := s.Minio(tb).MakeBucket(tb.Context(), name, minio.MakeBucketOptions{Region: s3Region, ObjectLocking: objectLock})
	if err != nil {
		tb.Fatalf("testbed: create bucket %s: %v", name, err)
	}
}

// Config returns a storage.Config for bucket and prefix on this server, with
// its credentials, path-style addressing and region us-east-1.
func (s *S3Server) Config(bucket, prefix string) storage.Config {
	return storage.Config{
		Endpoint:  s.Endpoint,
		Bucket:    bucket,
		Prefix:    prefix,
		Region:    s3Region,
		PathStyle: true,
		Credentials: storage.Credentials{
			AccessKeyID:     s.AccessKey,
			SecretAccessKey: s.SecretKey,
		},
	}
}

func randomKey(tb TB, n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		tb.Fatalf("testbed: random: %v", err)
	}
	return strings.ToUpper(hex.EncodeToString(b))
}
