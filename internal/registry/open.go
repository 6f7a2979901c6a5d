package registry

import (
	"context"
	"fmt"

	"github.com/smartmaint/smartmaint/internal/config"
	"github.com/smartmaint/smartmaint/internal/registry/artifact"
)

// OpenArtifactStore returns the artifact store cfg names: the folder
// MODEL_DIR, or the S3 bucket S3_BUCKET (checked to be reachable).
func OpenArtifactStore(ctx context.Context, cfg config.Config) (artifact.Store, error) {
	switch cfg.ModelStore {
	case "", "folder":
		return artifact.NewFolder(cfg.ModelDir)
	case "s3":
		return artifact.NewS3(ctx, artifact.S3Config{
			Bucket:         cfg.S3Bucket,
			Prefix:         cfg.S3Prefix,
			Endpoint:       cfg.S3Endpoint,
			Region:         cfg.S3Region,
			ForcePathStyle: cfg.S3ForcePathStyle,
		})
	}
	return nil, fmt.Errorf("registry: unknown MODEL_STORE %q: want folder or s3", cfg.ModelStore)
}
