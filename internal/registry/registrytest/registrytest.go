// Package registrytest sets up a model registry for tests of the packages
// that use one: over a given database, with its artifacts in a temporary
// folder that tests may inspect or damage.
package registrytest

import (
	"log/slog"
	"testing"

	"github.com/smartmaint/smartmaint/internal/registry"
	"github.com/smartmaint/smartmaint/internal/registry/artifact"
	"github.com/smartmaint/smartmaint/internal/store"
)

// New returns a registry over db keeping its artifacts in a folder removed
// when the test ends, and that folder. It logs nowhere and announces on no
// Redis.
func New(tb testing.TB, db *store.DB) (*registry.Registry, *artifact.Folder) {
	tb.Helper()
	folder := Folder(tb)
	return registry.New(db, folder, registry.Options{Logger: slog.New(slog.DiscardHandler)}), folder
}

// Folder returns an artifact folder removed when the test ends, for a
// registry with options of the test's own.
func Folder(tb testing.TB) *artifact.Folder {
	tb.Helper()
	folder, err := artifact.NewFolder(tb.TempDir())
	if err != nil {
		tb.Fatalf("registrytest: %v", err)
	}
	return folder
}
