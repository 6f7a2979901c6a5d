// Package dataset reads the public datasets in ../shared/datasets (see its
// README): the files are read from disk, never downloaded.
package dataset

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
)

// Dir returns the datasets folder: $SMARTMAINT_DATASETS when set, otherwise
// the first shared/datasets found walking up from the working directory (so
// it works from the repository root and from package test directories).
func Dir() (string, error) {
	if d := os.Getenv("SMARTMAINT_DATASETS"); d != "" {
		return d, nil
	}
	wd, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("dataset: %w", err)
	}
	for dir := wd; ; dir = filepath.Dir(dir) {
		for _, c := range []string{filepath.Join(dir, "shared", "datasets"), filepath.Join(dir, "..", "shared", "datasets")} {
			if st, err := os.Stat(c); err == nil && st.IsDir() {
				return filepath.Clean(c), nil
			}
		}
		if filepath.Dir(dir) == dir {
			return "", errors.New("dataset: no shared/datasets folder above the working directory; set SMARTMAINT_DATASETS")
		}
	}
}

// AI4IPath is the AI4I 2020 CSV inside Dir.
func AI4IPath() (string, error) {
	d, err := Dir()
	if err != nil {
		return "", err
	}
	return filepath.Join(d, "ai4i2020", "ai4i2020.csv"), nil
}

// AI4I is one record of the AI4I 2020 predictive maintenance dataset
// (UCI 601, CC BY 4.0): a milling machine's process state and whether it
// failed.
type AI4I struct {
	UDI         int
	ProductID   string
	Type        byte // 'L', 'M' or 'H' quality variant
	AirTempK    float64
	ProcessTemp float64 // K
	RPM         float64
	TorqueNm    float64
	ToolWearMin float64
	Failure     bool
	// Modes are the failure modes TWF, HDF, PWF, OSF, RNF. They determine
	// Failure and must never be used as features.
	Modes [5]bool
}

// AI4IFeatureNames are the model features in the order of AI4I.Features.
var AI4IFeatureNames = []string{
	"air_temperature_k", "process_temperature_k", "rotational_speed_rpm", "torque_nm", "tool_wear_min", "type_l", "type_m", "type_h",
}

// Features returns the five process features and a one-hot Type: never the
// failure modes, which leak the label.
func (r AI4I) Features() []float64 {
	f := []float64{r.AirTempK, r.ProcessTemp, r.RPM, r.TorqueNm, r.ToolWearMin, 0, 0, 0}
	switch r.Type {
	case 'L':
		f[5] = 1
	case 'M':
		f[6] = 1
	case 'H':
		f[7] = 1
	}
	return f
}

// LoadAI4I reads the CSV at path.
func LoadAI4I(path string) ([]AI4I, error) {
	return loadFile(path, ReadAI4I)
}

// ReadAI4I parses AI4I 2020 CSV with its header row.
func ReadAI4I(r io.Reader) ([]AI4I, error) {
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = 14
	if _, err := cr.Read(); err != nil {
		return nil, fmt.Errorf("dataset: ai4i header: %w", err)
	}
	var out []AI4I
	err := eachRecord(cr, "ai4i", func(rec []string) error {
		var a AI4I
		var perr error
		num := func(s string) float64 {
			v, err := strconv.ParseFloat(s, 64)
			if err != nil && perr == nil {
				perr = err
			}
			return v
		}
		flag := func(s string) bool { return num(s) != 0 }
		a.UDI = int(num(rec[0]))
		a.ProductID = rec[1]
		if len(rec[2]) != 1 {
			return fmt.Errorf("type %q", rec[2])
		}
		a.Type = rec[2][0]
		a.AirTempK, a.ProcessTemp, a.RPM, a.TorqueNm, a.ToolWearMin = num(rec[3]), num(rec[4]), num(rec[5]), num(rec[6]), num(rec[7])
		a.Failure = flag(rec[8])
		for i := range a.Modes {
			a.Modes[i] = flag(rec[9+i])
		}
		if perr != nil {
			return perr
		}
		out = append(out, a)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}
