package artifact_test

import (
	"context"
	"crypto/rand"
	"fmt"
	"testing"

	"github.com/smartmaint/smartmaint/internal/registry/artifact"
	"github.com/smartmaint/smartmaint/internal/registry/s3test"
)

// benchStore returns a fresh folder store or an S3 store on versitygw
// over loopback.
func benchStore(b *testing.B, name string) artifact.Store {
	b.Helper()
	var s artifact.Store
	var err error
	if name == "folder" {
		s, err = artifact.NewFolder(b.TempDir())
	} else {
		s, err = artifact.NewS3(context.Background(), s3test.Start(b).Config("models"))
	}
	if err != nil {
		b.Fatal(err)
	}
	return s
}

var benchSizes = []int{64 << 10, 1 << 20, 8 << 20}

// eachStoreAndSize runs bench for both stores and every size with random
// data of that size, reporting MB/s.
func eachStoreAndSize(b *testing.B, bench func(b *testing.B, s artifact.Store, data []byte)) {
	for _, name := range []string{"folder", "s3"} {
		for _, size := range benchSizes {
			b.Run(fmt.Sprintf("%s/%dKiB", name, size>>10), func(b *testing.B) {
				s := benchStore(b, name)
				data := make([]byte, size)
				rand.Read(data)
				b.SetBytes(int64(size))
				bench(b, s, data)
			})
		}
	}
}

// BenchmarkSave writes distinct artifacts (content-addressed, so each
// iteration changes the bytes).
func BenchmarkSave(b *testing.B) {
	eachStoreAndSize(b, func(b *testing.B, s artifact.Store, data []byte) {
		for i := 0; b.Loop(); i++ {
			data[0], data[1], data[2] = byte(i), byte(i>>8), byte(i>>16)
			if _, err := artifact.Save(context.Background(), s, "acme/bench", data); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkLoad reads and verifies (size and SHA-256) one artifact.
func BenchmarkLoad(b *testing.B) {
	eachStoreAndSize(b, func(b *testing.B, s artifact.Store, data []byte) {
		ref, err := artifact.Save(context.Background(), s, "acme/bench", data)
		if err != nil {
			b.Fatal(err)
		}
		for b.Loop() {
			if _, err := artifact.Load(context.Background(), s, ref); err != nil {
				b.Fatal(err)
			}
		}
	})
}
