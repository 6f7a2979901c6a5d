package dataset

import (
	"encoding/csv"
	"errors"
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

// loadShipped loads, with load, the dataset at the place where names
// inside Dir; an error of either is returned as it is.
func loadShipped[T any](where func() (string, error), load func(string) (T, error)) (T, error) {
	path, err := where()
	if err != nil {
		var zero T
		return zero, err
	}
	return load(path)
}

// ShippedAI4I loads the AI4I 2020 CSV at AI4IPath.
func ShippedAI4I() ([]AI4I, error) { return loadShipped(AI4IPath, LoadAI4I) }

// ShippedAzurePdM loads the azure-pdm folder at AzurePdMDir.
func ShippedAzurePdM() (*AzurePdM, error) { return loadShipped(AzurePdMDir, LoadAzurePdM) }

// ShippedIMSFeatures loads the IMS feature CSV at IMSFeaturesPath.
func ShippedIMSFeatures() ([]IMSFeatureRow, error) {
	return loadShipped(IMSFeaturesPath, LoadIMSFeatures)
}

// eachRecord calls row with each record cr reads until the end, the header
// already read. Errors, from cr or row, are prefixed with the dataset's name
// and the line (the header is line 1).
func eachRecord(cr *csv.Reader, name string, row func(rec []string) error) error {
	for line := 2; ; line++ {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("dataset: %s line %d: %w", name, line, err)
		}
		if err := row(rec); err != nil {
			return fmt.Errorf("dataset: %s line %d: %w", name, line, err)
		}
	}
}
