package dataset

import (
	"fmt"
	"io"
	"os"
)

// loadFile opens the file at path and parses it with read. An error
// opening the file is prefixed "dataset: "; errors from read are returned
// as read returned them.
func loadFile[T any](path string, read func(io.Reader) (T, error)) (T, error) {
	f, err := os.Open(path)
	if err != nil {
		var zero T
		return zero, fmt.Errorf("dataset: %w", err)
	}
	defer f.Close()
	return read(f)
}
