package registry

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/smartmaint/smartmaint/internal/config"
	"github.com/smartmaint/smartmaint/internal/registry/s3test"
)

func TestOpenArtifactStore(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "models")
	s, err := OpenArtifactStore(ctx, config.Config{ModelStore: "folder", ModelDir: dir})
	if err != nil || s.String() != "file://"+dir {
		t.Fatalf("folder store = %v, %v", s, err)
	}
	srv := s3test.Start(t)
	s, err = OpenArtifactStore(ctx, config.Config{ModelStore: "s3", S3Bucket: srv.Bucket, S3Prefix: "/models/", S3Endpoint: srv.Endpoint,
		S3Region: s3test.Region, S3ForcePathStyle: true})
	if err != nil || s.String() != "s3://"+srv.Bucket+"/models" {
		t.Fatalf("s3 store = %v, %v", s, err)
	}
	if _, err := OpenArtifactStore(ctx, config.Config{ModelStore: "s3", S3Bucket: "absent", S3Endpoint: srv.Endpoint, S3ForcePathStyle: true}); err == nil || !strings.Contains(err.Error(), "absent") {
		t.Fatalf("s3 store on a missing bucket: %v", err)
	}
	if _, err := OpenArtifactStore(ctx, config.Config{ModelStore: "tape"}); err == nil {
		t.Fatal("unknown store accepted")
	}
}
