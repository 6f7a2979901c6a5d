// Package artifact stores model artifacts — the encoded bytes of a trained
// model — in a local folder or an S3 bucket, and verifies them on the way
// back: every Load checks the size and SHA-256 recorded when the artifact
// was saved, so a truncated, corrupted or swapped object is refused with
// ErrChecksum instead of being decoded.
//
// Artifacts are content-addressed: Save writes data under
// <dir>/<sha256-hex>, so saving the same bytes twice is harmless and an
// object's name already says what it must hash to.
package artifact

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"path"
	"strings"
)

// Errors from Load and the stores.
var (
	// ErrNotFound means the store has no object under the key.
	ErrNotFound = errors.New("artifact: not found")
	// ErrChecksum means the stored bytes differ from what was saved.
	ErrChecksum = errors.New("artifact: checksum mismatch")
)

// Store keeps bytes under keys. Keys are slash-separated relative paths
// without "." or ".." elements.
type Store interface {
	// Put stores data under key, replacing what was there, and returns a URI
	// naming the object for people (s3://bucket/key, file:///path).
	// sum is the SHA-256 of data; stores that can, have the server check it.
	Put(ctx context.Context, key string, data []byte, sum [sha256.Size]byte) (uri string, err error)
	// Get returns the bytes under key, or an error wrapping ErrNotFound.
	Get(ctx context.Context, key string) ([]byte, error)
	// String describes the store for logs, e.g. "s3://bucket/prefix".
	String() string
}

// Ref is a saved artifact: where it is and what it must be.
type Ref struct {
	// Key is the store-relative key; it stays valid when the store moves.
	Key string `json:"key"`
	// URI is where Save wrote the artifact, for people.
	URI string `json:"uri"`
	// Size is the length in bytes.
	Size int64 `json:"size"`
	// SHA256 is the hex SHA-256 of the bytes.
	SHA256 string `json:"sha256"`
}

// Save stores data content-addressed under dir and returns its Ref.
func Save(ctx context.Context, s Store, dir string, data []byte) (Ref, error) {
	if len(data) == 0 {
		return Ref{}, errors.New("artifact: refusing to save an empty artifact")
	}
	sum := sha256.Sum256(data)
	hexSum := hex.EncodeToString(sum[:])
	key := path.Join(dir, hexSum)
	if err := checkKey(key); err != nil {
		return Ref{}, err
	}
	uri, err := s.Put(ctx, key, data, sum)
	if err != nil {
		return Ref{}, fmt.Errorf("artifact: save %s to %s: %w", key, s, err)
	}
	return Ref{Key: key, URI: uri, Size: int64(len(data)), SHA256: hexSum}, nil
}

// Load reads ref from s and verifies its size and SHA-256. A mismatch is an
// error wrapping ErrChecksum; a missing object one wrapping ErrNotFound.
func Load(ctx context.Context, s Store, ref Ref) ([]byte, error) {
	if err := checkKey(ref.Key); err != nil {
		return nil, err
	}
	data, err := s.Get(ctx, ref.Key)
	if err != nil {
		return nil, fmt.Errorf("artifact: load %s from %s: %w", ref.Key, s, err)
	}
	if int64(len(data)) != ref.Size {
		return nil, fmt.Errorf("artifact: %s in %s has %d bytes, recorded %d: %w", ref.Key, s, len(data), ref.Size, ErrChecksum)
	}
	sum := sha256.Sum256(data)
	if got := hex.EncodeToString(sum[:]); got != ref.SHA256 {
		return nil, fmt.Errorf("artifact: %s in %s has SHA-256 %s, recorded %s: %w", ref.Key, s, got, ref.SHA256, ErrChecksum)
	}
	return data, nil
}

// checkKey refuses keys that could escape a folder or name a directory.
func checkKey(key string) error {
	for elem := range strings.SplitSeq(key, "/") {
		if elem == "" || elem == "." || elem == ".." {
			return fmt.Errorf("artifact: invalid key %q: want a clean relative path", key)
		}
	}
	return nil
}
