package artifact

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"path"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
)

// S3Config says where S3 artifacts live. Credentials come from the standard
// AWS sources (AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, shared config
// files, instance roles).
type S3Config struct {
	// Bucket must exist; NewS3 checks that it is reachable.
	Bucket string
	// Prefix is prepended to every key as a folder, e.g. "models".
	Prefix string
	// Endpoint is an S3-compatible server's URL; empty means AWS.
	Endpoint string
	// Region is the bucket's region.
	Region string
	// ForcePathStyle addresses buckets as endpoint/bucket rather than
	// bucket.endpoint, as most self-hosted servers need.
	ForcePathStyle bool
}

// S3 stores artifacts as objects in a bucket.
type S3 struct {
	client *s3.Client
	bucket string
	prefix string
}

// NewS3 connects to the bucket and checks that it is reachable.
func NewS3(ctx context.Context, c S3Config) (*S3, error) {
	if c.Bucket == "" {
		return nil, errors.New("artifact: S3 bucket is not set")
	}
	opts := []func(*config.LoadOptions) error{}
	if c.Region != "" {
		opts = append(opts, config.WithRegion(c.Region))
	}
	awsCfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("artifact: AWS configuration: %w", err)
	}
	client := s3.NewFromConfig(awsCfg, func(o *s3.Options) {
		if c.Endpoint != "" {
			o.BaseEndpoint = aws.String(c.Endpoint)
		}
		o.UsePathStyle = c.ForcePathStyle
		// Integrity is checked by Load against the SHA-256 recorded in the
		// registry; the SDK's own response validation would only duplicate it.
		o.ResponseChecksumValidation = aws.ResponseChecksumValidationWhenRequired
	})
	prefix := strings.Trim(c.Prefix, "/")
	if prefix != "" {
		prefix += "/"
	}
	s := &S3{client: client, bucket: c.Bucket, prefix: prefix}
	if _, err := client.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: aws.String(c.Bucket)}); err != nil {
		return nil, fmt.Errorf("artifact: S3 bucket %s (endpoint %q): %w", s, c.Endpoint, err)
	}
	return s, nil
}

// String describes the store.
func (s *S3) String() string { return "s3://" + path.Join(s.bucket, s.prefix) }

func (s *S3) objectKey(key string) string { return s.prefix + key }

// Put uploads data; the server checks it against sum before storing it.
func (s *S3) Put(ctx context.Context, key string, data []byte, sum [sha256.Size]byte) (string, error) {
	if err := checkKey(key); err != nil {
		return "", err
	}
	obj := s.objectKey(key)
	_, err := s.client.PutObject(ctx, &s3.PutObjectInput{
		Bucket:         aws.String(s.bucket),
		Key:            aws.String(obj),
		Body:           bytes.NewReader(data),
		ContentLength:  aws.Int64(int64(len(data))),
		ContentType:    aws.String("application/octet-stream"),
		ChecksumSHA256: aws.String(base64.StdEncoding.EncodeToString(sum[:])),
	})
	if err != nil {
		return "", err
	}
	return "s3://" + s.bucket + "/" + obj, nil
}

// Get downloads the object under key.
func (s *S3) Get(ctx context.Context, key string) ([]byte, error) {
	if err := checkKey(key); err != nil {
		return nil, err
	}
	out, err := s.client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(s.bucket), Key: aws.String(s.objectKey(key))})
	if err != nil {
		if notFound(err) {
			return nil, fmt.Errorf("%w: %s", ErrNotFound, key)
		}
		return nil, err
	}
	defer out.Body.Close()
	var buf bytes.Buffer
	if n := aws.ToInt64(out.ContentLength); n > 0 && n < 1<<31 {
		buf.Grow(int(n))
	}
	if _, err := io.Copy(&buf, out.Body); err != nil {
		return nil, fmt.Errorf("read object body: %w", err)
	}
	return buf.Bytes(), nil
}

func notFound(err error) bool {
	var nsk *types.NoSuchKey
	if errors.As(err, &nsk) {
		return true
	}
	var apiErr smithy.APIError
	return errors.As(err, &apiErr) && strings.EqualFold(apiErr.ErrorCode(), "NotFound")
}
