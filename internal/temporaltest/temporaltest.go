// Package temporaltest starts a real Temporal server (the embedded dev
// server, SQLite in memory) for end-to-end tests. One server is shared by all
// tests of a test binary; each test should use its own task queue.
package temporaltest

import (
	"context"
	"log/slog"
	"sync"
	"testing"
	"time"

	"go.temporal.io/sdk/client"

	"github.com/smartmaint/smartmaint/internal/devserver"
)

var (
	once   sync.Once
	server *devserver.Server
	err    error
)

// Server returns the shared server, starting it on first use.
func Server(t testing.TB) *devserver.Server {
	t.Helper()
	once.Do(func() {
		server, err = devserver.Start(devserver.Options{Logger: slog.New(slog.DiscardHandler), LogLevel: slog.LevelError})
	})
	if err != nil {
		t.Fatalf("temporaltest: start dev server: %v", err)
	}
	return server
}

// Client returns a client of the shared server, closed when the test ends.
func Client(t testing.TB) client.Client {
	t.Helper()
	s := Server(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := client.DialContext(ctx, client.Options{HostPort: s.Address(), Logger: quietLogger{}})
	if err != nil {
		t.Fatalf("temporaltest: dial %s: %v", s.Address(), err)
	}
	t.Cleanup(c.Close)
	return c
}

// quietLogger drops the SDK's chatter from test output.
type quietLogger struct{}

func (quietLogger) Debug(string, ...any) {}
func (quietLogger) Info(string, ...any)  {}
func (quietLogger) Warn(string, ...any)  {}
func (quietLogger) Error(string, ...any) {}
