package faults

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/smartmaint/smartmaint/internal/apikey"
	"github.com/smartmaint/smartmaint/internal/devserver"
	"github.com/smartmaint/smartmaint/internal/requestid"
	"github.com/smartmaint/smartmaint/internal/store"
	"github.com/smartmaint/smartmaint/internal/testenv"
)

// binary is the smartmaint binary built once for the whole package.
var binary string

func TestMain(m *testing.M) {
	flag.Parse()
	if testing.Short() {
		fmt.Println("faults: skipped in -short mode")
		os.Exit(0)
	}
	dir, err := os.MkdirTemp("", "smartmaint-faults-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "faults:", err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "smartmaint")
	build := exec.Command("go", "build", "-o", binary, "github.com/smartmaint/smartmaint/cmd/smartmaint")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "faults: build smartmaint:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// process is a child process whose output goes to a log file, printed
// when the test fails.
type process struct {
	name  string
	cmd   *exec.Cmd
	log   string
	done  chan struct{}
	admin string // the admin listener's base URL (/metrics), API processes only
}

// run starts a child process; it is stopped when the test ends.
func run(t *testing.T, name string, env []string, path string, args ...string) *process {
	t.Helper()
	logPath := filepath.Join(t.TempDir(), name+".log")
	f, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(path, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = f, f
	if err := cmd.Start(); err != nil {
		f.Close()
		t.Fatalf("start %s: %v", name, err)
	}
	p := &process{name: name, cmd: cmd, log: logPath, done: make(chan struct{})}
	go func() { cmd.Wait(); f.Close(); close(p.done) }()
	t.Cleanup(func() {
		p.stop()
		if t.Failed() {
			p.printLog(t)
		}
	})
	return p
}

// stop asks the process to exit (SIGINT) and kills it after 15 seconds.
func (p *process) stop() {
	select {
	case <-p.done:
		return
	default:
	}
	p.cmd.Process.Signal(os.Interrupt)
	select {
	case <-p.done:
	case <-time.After(15 * time.Second):
		p.kill()
	}
}

// kill ends the process at once (SIGKILL), as a crash or an OOM kill would.
func (p *process) kill() {
	p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.done
}

func (p *process) printLog(t *testing.T) {
	f, err := os.Open(p.log)
	if err != nil {
		return
	}
	defer f.Close()
	var lines []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		lines = append(lines, sc.Text())
	}
	if len(lines) > 40 {
		lines = lines[len(lines)-40:]
	}
	t.Logf("last lines of %s:\n%s", p.name, strings.Join(lines, "\n"))
}

// stack is the configuration shared by the processes of one test.
type stack struct {
	t         *testing.T
	db        *store.DB
	dbURL     string
	redisURL  string
	temporal  string
	taskQueue string
	extra     []string
	keys      map[string]string
}

// newStack makes a fresh database; Temporal is a dead address unless the
// test sets one (the API connects lazily and ingest does not need it).
func newStack(t *testing.T) *stack {
	t.Helper()
	db, url := testenv.DB(t)
	return &stack{t: t, db: db, dbURL: url, redisURL: testenv.RedisURL(), temporal: "127.0.0.1:1",
		taskQueue: "faults-" + requestid.New()[:10], keys: map[string]string{}}
}

func (s *stack) env(extra ...string) []string {
	env := []string{
		"DATABASE_URL=" + s.dbURL, "REDIS_URL=" + s.redisURL,
		"TEMPORAL_ADDRESS=" + s.temporal, "TEMPORAL_TASK_QUEUE=" + s.taskQueue,
		"MODEL_DIR=" + s.t.TempDir(), "LOG_LEVEL=warn",
		"ADMIN_ADDR=127.0.0.1:0", // startAPI picks a port it knows; later entries win
	}
	env = append(env, s.extra...)
	return append(env, extra...)
}

// startAPI runs `smartmaint api` on a free port and waits for /health.
func (s *stack) startAPI(extra ...string) (*process, string) {
	s.t.Helper()
	port, err := devserver.FreePort("127.0.0.1")
	if err != nil {
		s.t.Fatal(err)
	}
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	if port, err = devserver.FreePort("127.0.0.1"); err != nil {
		s.t.Fatal(err)
	}
	admin := fmt.Sprintf("127.0.0.1:%d", port)
	p := run(s.t, "api", s.env(append([]string{"HTTP_ADDR=" + addr, "ADMIN_ADDR=" + admin}, extra...)...), binary, "api")
	p.admin = "http://" + admin
	base := "http://" + addr
	eventually(s.t, 60*time.Second, "the API to answer /health", func() bool {
		resp, err := http.Get(base + "/health")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	})
	return p, base
}

// startWorker runs `smartmaint worker`.
func (s *stack) startWorker(name string, extra ...string) *process {
	s.t.Helper()
	return run(s.t, name, s.env(extra...), binary, "worker")
}

// key creates an API key in tenant (made if missing) and remembers it.
func (s *stack) key(name, tenant string, scopes ...apikey.Scope) {
	s.t.Helper()
	ctx := context.Background()
	if err := s.db.EnsureTenant(ctx, tenant, tenant); err != nil {
		s.t.Fatal(err)
	}
	key, prefix, hash := apikey.Generate()
	if _, err := s.db.CreateAPIKey(ctx, tenant, name, prefix, hash, scopes, nil); err != nil {
		s.t.Fatal(err)
	}
	s.keys[name] = key
}

// response is one answer of the API.
type response struct {
	code   int
	body   []byte
	header http.Header
	err    error
}

func (r response) json() map[string]any {
	var m map[string]any
	json.Unmarshal(r.body, &m)
	return m
}

func (r response) errCode() string {
	e, _ := r.json()["error"].(map[string]any)
	c, _ := e["code"].(string)
	return c
}

// call sends a request as the named key; body is JSON-encoded unless it is
// a string. Transport errors are returned, not fatal.
func (s *stack) call(base, key, method, path string, body any, header map[string]string) response {
	var r io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		r = strings.NewReader(b)
	default:
		raw, err := json.Marshal(b)
		if err != nil {
			s.t.Fatal(err)
		}
		r = bytes.NewReader(raw)
	}
	req, err := http.NewRequest(method, base+path, r)
	if err != nil {
		s.t.Fatal(err)
	}
	if key != "" {
		req.Header.Set("X-API-Key", s.keys[key])
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := httpClient.Do(req)
	if err != nil {
		return response{err: err}
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	return response{code: resp.StatusCode, body: raw, header: resp.Header, err: err}
}

var httpClient = &http.Client{Timeout: 30 * time.Second}

// must is call that fails the test unless the status is want.
func (s *stack) must(want int, base, key, method, path string, body any) map[string]any {
	s.t.Helper()
	r := s.call(base, key, method, path, body, nil)
	if r.err != nil || r.code != want {
		s.t.Fatalf("%s %s = %d %s (%v), want %d", method, path, r.code, r.body, r.err, want)
	}
	return r.json()
}

// eventually polls f until it returns true or the timeout passes.
func eventually(t *testing.T, timeout time.Duration, what string, f func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !f() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// counter counts values safely across goroutines.
type counter struct {
	mu sync.Mutex
	m  map[string]int
}

func (c *counter) add(k string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = map[string]int{}
	}
	c.m[k]++
}

func (c *counter) get(k string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.m[k]
}

func (c *counter) String() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return fmt.Sprint(c.m)
}
