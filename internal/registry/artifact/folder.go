package artifact

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
)

// Folder stores artifacts as files under a directory.
type Folder struct {
	dir string // absolute
}

// NewFolder returns a store rooted at dir, creating it when missing.
func NewFolder(dir string) (*Folder, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("artifact: folder %q: %w", dir, err)
	}
	if err := os.MkdirAll(abs, 0o755); err != nil {
		return nil, fmt.Errorf("artifact: folder: %w", err)
	}
	return &Folder{dir: abs}, nil
}

// Dir is the absolute directory the store writes to.
func (f *Folder) Dir() string { return f.dir }

// String describes the store.
func (f *Folder) String() string { return (&url.URL{Scheme: "file", Path: f.dir}).String() }

// Put writes data to a temporary file, syncs it and renames it into place,
// so a reader never sees a partly written artifact.
func (f *Folder) Put(_ context.Context, key string, data []byte, _ [sha256.Size]byte) (string, error) {
	if err := checkKey(key); err != nil {
		return "", err
	}
	name := filepath.Join(f.dir, filepath.FromSlash(key))
	if err := os.MkdirAll(filepath.Dir(name), 0o755); err != nil {
		return "", err
	}
	tmp, err := os.CreateTemp(filepath.Dir(name), ".put-*")
	if err != nil {
		return "", err
	}
	_, err = tmp.Write(data)
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), name)
	}
	if err != nil {
		os.Remove(tmp.Name())
		return "", err
	}
	return (&url.URL{Scheme: "file", Path: name}).String(), nil
}

// Get reads the file under key.
func (f *Folder) Get(_ context.Context, key string) ([]byte, error) {
	if err := checkKey(key); err != nil {
		return nil, err
	}
	data, err := os.ReadFile(filepath.Join(f.dir, filepath.FromSlash(key)))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w: %s", ErrNotFound, key)
	}
	return data, err
}
