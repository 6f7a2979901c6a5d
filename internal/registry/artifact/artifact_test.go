package artifact_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/smartmaint/smartmaint/internal/registry/artifact"
	"github.com/smartmaint/smartmaint/internal/registry/s3test"
)

// backend is a store under test plus a way to change an object behind its
// back, as a failing disk or a careless operator would.
type backend struct {
	name  string
	store artifact.Store
	// file returns the file that holds key on the server's side.
	file func(key string) string
}

func backends(t *testing.T) []backend {
	t.Helper()
	folder, err := artifact.NewFolder(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	srv := s3test.Start(t)
	s3, err := artifact.NewS3(context.Background(), srv.Config("models/"))
	if err != nil {
		t.Fatal(err)
	}
	return []backend{
		{"folder", folder, func(key string) string { return filepath.Join(folder.Dir(), key) }},
		{"s3", s3, func(key string) string { return srv.ObjectPath("models/" + key) }},
	}
}

func TestSaveLoad(t *testing.T) {
	ctx := context.Background()
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			data := bytes.Repeat([]byte("isolation forest "), 1000)
			ref, err := artifact.Save(ctx, b.store, "acme/pump-iforest", data)
			if err != nil {
				t.Fatal(err)
			}
			sum := sha256.Sum256(data)
			if ref.Size != int64(len(data)) || !strings.HasSuffix(ref.Key, "/"+ref.SHA256) || ref.SHA256 == "" || ref.URI == "" {
				t.Fatalf("ref = %+v", ref)
			}
			if got := ref.SHA256; got != hex.EncodeToString(sum[:]) {
				t.Fatalf("sha256 = %s, want %s", got, hex.EncodeToString(sum[:]))
			}
			got, err := artifact.Load(ctx, b.store, ref)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, data) {
				t.Fatal("loaded bytes differ from saved bytes")
			}
			on, err := os.ReadFile(b.file(ref.Key))
			if err != nil || !bytes.Equal(on, data) {
				t.Fatalf("object not stored where expected (%s): %v", b.file(ref.Key), err)
			}
			again, err := artifact.Save(ctx, b.store, "acme/pump-iforest", data)
			if err != nil || again != ref {
				t.Fatalf("saving the same bytes again: %+v, %v; want %+v", again, err, ref)
			}
		})
	}
}

func TestLoadRefusesDamage(t *testing.T) {
	ctx := context.Background()
	data := []byte("gradient-boosted trees, 200 rounds")
	tests := []struct {
		name   string
		damage func(t *testing.T, file string)
		want   error
	}{
		{"flipped byte", func(t *testing.T, file string) {
			d := bytes.Clone(data)
			d[3] ^= 0xff
			write(t, file, d)
		}, artifact.ErrChecksum},
		{"truncated", func(t *testing.T, file string) { write(t, file, data[:10]) }, artifact.ErrChecksum},
		{"replaced", func(t *testing.T, file string) { write(t, file, []byte("something else entirely, same-ish")) }, artifact.ErrChecksum},
		{"deleted", func(t *testing.T, file string) {
			if err := os.Remove(file); err != nil {
				t.Fatal(err)
			}
		}, artifact.ErrNotFound},
	}
	for _, b := range backends(t) {
		for _, tt := range tests {
			t.Run(b.name+"/"+tt.name, func(t *testing.T) {
				ref, err := artifact.Save(ctx, b.store, "acme/"+strings.ReplaceAll(tt.name, " ", "-"), data)
				if err != nil {
					t.Fatal(err)
				}
				tt.damage(t, b.file(ref.Key))
				got, err := artifact.Load(ctx, b.store, ref)
				if !errors.Is(err, tt.want) {
					t.Fatalf("Load = %q, %v; want an error wrapping %v", got, err, tt.want)
				}
				if !strings.Contains(err.Error(), ref.Key) {
					t.Errorf("error %q does not name the artifact %s", err, ref.Key)
				}
			})
		}
	}
}

func TestLoadMissing(t *testing.T) {
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			ref := artifact.Ref{Key: "acme/none/" + strings.Repeat("ab", 32), Size: 1, SHA256: strings.Repeat("ab", 32)}
			if _, err := artifact.Load(context.Background(), b.store, ref); !errors.Is(err, artifact.ErrNotFound) {
				t.Fatalf("Load of a missing object = %v, want ErrNotFound", err)
			}
		})
	}
}

func TestInvalidKeys(t *testing.T) {
	folder, err := artifact.NewFolder(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{"", "/etc/passwd", "../outside", "a/../../b", "a//b", "./a", "a/."} {
		if _, err := artifact.Load(context.Background(), folder, artifact.Ref{Key: key}); err == nil || errors.Is(err, artifact.ErrNotFound) {
			t.Errorf("Load(%q) = %v, want an invalid-key error", key, err)
		}
	}
	if _, err := artifact.Save(context.Background(), folder, "../up", []byte("x")); err == nil {
		t.Error("Save under ../up succeeded")
	}
	if _, err := artifact.Save(context.Background(), folder, "acme/m", nil); err == nil {
		t.Error("Save of an empty artifact succeeded")
	}
}

func TestNewS3MissingBucket(t *testing.T) {
	srv := s3test.Start(t)
	cfg := srv.Config("")
	cfg.Bucket = "no-such-bucket"
	if _, err := artifact.NewS3(context.Background(), cfg); err == nil || !strings.Contains(err.Error(), "no-such-bucket") {
		t.Fatalf("NewS3 on a missing bucket = %v, want an error naming it", err)
	}
}

func write(t *testing.T, file string, data []byte) {
	t.Helper()
	if err := os.WriteFile(file, data, 0o644); err != nil {
		t.Fatal(err)
	}
}
