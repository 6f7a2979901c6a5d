// Package s3test runs a real S3-compatible server for tests: versitygw
// (github.com/versity/versitygw, Apache-2.0) with its POSIX backend on a
// temporary directory, on a free loopback port.
//
// The binary is built from the separate tools module (tools/go.mod, so its
// dependencies never enter smartmaint's go.mod) into .tools/bin/ at the
// repository root, once: later runs and other packages reuse it. The first
// build takes a few minutes on two cores. When it cannot be built or started
// the test fails with the reason; nothing is skipped.
package s3test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/smartmaint/smartmaint/internal/registry/artifact"
)

// Module is the tools module's requirement that provides the server.
const Module = "github.com/versity/versitygw"

// Credentials and region of every server Start runs.
const (
	AccessKey = "s3test-access"
	SecretKey = "s3test-secret-key-0123456789"
	Region    = "us-east-1"
)

// Server is a running versitygw.
type Server struct {
	// Endpoint is the server's base URL, http://127.0.0.1:<port>.
	Endpoint string
	// Dir is the POSIX backend's root: object K of bucket B is the file
	// Dir/B/K, which tests may change behind the server's back.
	Dir string
	// Bucket is a bucket Start created.
	Bucket string
}

// Start builds (once) and runs a server for the test, creates a bucket and
// sets the standard AWS credential variables (AWS_ACCESS_KEY_ID, …) for the
// test's duration, so code under test finds them the way it would in
// production. The server stops when the test ends.
func Start(tb testing.TB) *Server {
	tb.Helper()
	bin, err := Binary()
	if err != nil {
		tb.Fatalf("s3test: %v", err)
	}
	dir := tb.TempDir()
	var srv *Server
	for attempt := 0; ; attempt++ {
		srv, err = run(tb, bin, dir)
		if err == nil {
			break
		}
		if attempt == 2 { // the free port can be taken between probe and bind
			tb.Fatalf("s3test: start versitygw: %v", err)
		}
	}
	tb.Setenv("AWS_ACCESS_KEY_ID", AccessKey)
	tb.Setenv("AWS_SECRET_ACCESS_KEY", SecretKey)
	tb.Setenv("AWS_SESSION_TOKEN", "")
	tb.Setenv("AWS_REGION", Region)
	tb.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	srv.Bucket = "smartmaint-test"
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := srv.Client().CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(srv.Bucket)}); err != nil {
		tb.Fatalf("s3test: create bucket: %v", err)
	}
	return srv
}

// Config is an artifact.S3Config for the server's bucket under prefix.
func (s *Server) Config(prefix string) artifact.S3Config {
	return artifact.S3Config{Bucket: s.Bucket, Prefix: prefix, Endpoint: s.Endpoint, Region: Region, ForcePathStyle: true}
}

// Client is an S3 client with the server's credentials, for setting up and
// inspecting what the code under test did.
func (s *Server) Client() *s3.Client {
	return s3.New(s3.Options{
		BaseEndpoint: aws.String(s.Endpoint),
		Region:       Region,
		UsePathStyle: true,
		Credentials:  credentials.NewStaticCredentialsProvider(AccessKey, SecretKey, ""),
	})
}

// ObjectPath is the file holding object key of the server's bucket.
func (s *Server) ObjectPath(key string) string {
	return filepath.Join(s.Dir, s.Bucket, filepath.FromSlash(key))
}

func run(tb testing.TB, bin, dir string) (*Server, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	var out syncBuffer
	cmd := exec.Command(bin, "--port", addr, "--access", AccessKey, "--secret", SecretKey, "--region", Region, "--quiet", "posix", dir)
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.SysProcAttr = procAttr()
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	stop := func() {
		cmd.Process.Kill()
		<-exited
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			break
		}
		select {
		case err := <-exited:
			exited <- err
			return nil, fmt.Errorf("versitygw exited (%v): %s", err, out.String())
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			stop()
			return nil, fmt.Errorf("versitygw did not listen on %s within 30s: %s", addr, out.String())
		}
	}
	tb.Cleanup(stop)
	return &Server{Endpoint: "http://" + addr, Dir: dir}, nil
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

var (
	buildOnce sync.Once
	buildPath string
	buildErr  error
)

// Binary returns the path of the versitygw binary, building it into
// .tools/bin/ under the repository root when it is not there yet.
func Binary() (string, error) {
	buildOnce.Do(func() { buildPath, buildErr = build() })
	return buildPath, buildErr
}

func build() (string, error) {
	root, err := repoRoot()
	if err != nil {
		return "", err
	}
	toolsDir := filepath.Join(root, "tools")
	version, err := requiredVersion(filepath.Join(toolsDir, "go.mod"), Module)
	if err != nil {
		return "", err
	}
	binDir := filepath.Join(root, ".tools", "bin")
	bin := filepath.Join(binDir, "versitygw-"+version)
	if _, err := os.Stat(bin); err == nil {
		return bin, nil
	}
	if err := os.MkdirAll(binDir, 0o755); err != nil {
		return "", err
	}
	// Test binaries of several packages may get here at once: one builds,
	// the others wait on the lock and then find the binary.
	lock, err := os.OpenFile(filepath.Join(binDir, ".build.lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return "", err
	}
	defer lock.Close()
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		return "", fmt.Errorf("lock %s: %w", lock.Name(), err)
	}
	defer syscall.Flock(int(lock.Fd()), syscall.LOCK_UN)
	if _, err := os.Stat(bin); err == nil {
		return bin, nil
	}
	goCmd, err := exec.LookPath("go")
	if err != nil {
		return "", fmt.Errorf("building versitygw needs the go command on PATH: %w", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	tmp := bin + ".tmp"
	cmd := exec.CommandContext(ctx, goCmd, "build", "-o", tmp, Module+"/cmd/versitygw")
	cmd.Dir = toolsDir
	cmd.Env = append(os.Environ(), "GOWORK=off")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("build %s@%s in %s: %v\n%s", Module, version, toolsDir, err, out)
	}
	if err := os.Rename(tmp, bin); err != nil {
		return "", err
	}
	return bin, nil
}

// repoRoot walks up from the working directory (a package directory under
// go test) to the directory holding tools/go.mod.
func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "tools", "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no tools/go.mod above the working directory: cannot build versitygw")
		}
		dir = parent
	}
}

// requiredVersion reads module's version from a go.mod file.
func requiredVersion(gomod, module string) (string, error) {
	f, err := os.Open(gomod)
	if err != nil {
		return "", err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(strings.TrimPrefix(strings.TrimSpace(sc.Text()), "require "))
		if len(fields) >= 2 && fields[0] == module {
			return fields[1], nil
		}
	}
	if err := sc.Err(); err != nil {
		return "", err
	}
	return "", fmt.Errorf("%s does not require %s", gomod, module)
}

// syncBuffer collects the server's output for error messages.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return strings.TrimSpace(b.buf.String())
}
