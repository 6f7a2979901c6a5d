package dataset

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strconv"
)

// CMAPSSDir is the C-MAPSS folder inside Dir (see its SOURCE.md).
func CMAPSSDir() (string, error) {
	d, err := Dir()
	if err != nil {
		return "", err
	}
	return filepath.Join(d, "cmapss"), nil
}

// CMAPSSPath is the named file of the C-MAPSS folder, for example
// "train_FD001.txt", "test_FD001.txt" or "RUL_FD001.txt".
func CMAPSSPath(name string) (string, error) {
	d, err := CMAPSSDir()
	if err != nil {
		return "", err
	}
	return filepath.Join(d, name), nil
}

// CMAPSSSensors is the number of sensor columns of a C-MAPSS row.
const CMAPSSSensors = 21

// CMAPSSCycle is one line of a C-MAPSS train or test file: an engine's
// operational settings and sensor readings at one operating cycle.
//
// Unit identifies the engine and must never be a model feature.
type CMAPSSCycle struct {
	Unit     int
	Cycle    int
	Settings [3]float64
	// Sensors are s1…s21 (Sensors[0] is s1).
	Sensors [CMAPSSSensors]float64
}

// CMAPSSEngine is the run of one engine: its cycles in order, numbered
// consecutively.
type CMAPSSEngine struct {
	Unit   int
	Cycles []CMAPSSCycle
}

// LoadCMAPSS reads the C-MAPSS train or test file at path.
func LoadCMAPSS(path string) ([]CMAPSSCycle, error) {
	return loadFile(path, ReadCMAPSS)
}

// ReadCMAPSS parses the C-MAPSS train/test layout: no header, one cycle a
// line, 26 whitespace-separated fields (unit, cycle, three settings, 21
// sensors). Blank lines are skipped.
func ReadCMAPSS(r io.Reader) ([]CMAPSSCycle, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), 1<<20)
	var out []CMAPSSCycle
	for line := 1; sc.Scan(); line++ {
		fields := bytes.Fields(sc.Bytes())
		if len(fields) == 0 {
			continue
		}
		if len(fields) != 26 {
			return nil, fmt.Errorf("dataset: cmapss line %d: %d fields, want 26", line, len(fields))
		}
		var c CMAPSSCycle
		var err error
		if c.Unit, err = cmapssInt(fields[0]); err != nil {
			return nil, fmt.Errorf("dataset: cmapss line %d: unit: %w", line, err)
		}
		if c.Cycle, err = cmapssInt(fields[1]); err != nil {
			return nil, fmt.Errorf("dataset: cmapss line %d: cycle: %w", line, err)
		}
		for i := range c.Settings {
			if c.Settings[i], err = strconv.ParseFloat(string(fields[2+i]), 64); err != nil {
				return nil, fmt.Errorf("dataset: cmapss line %d: setting %d: %w", line, i+1, err)
			}
		}
		for i := range c.Sensors {
			if c.Sensors[i], err = strconv.ParseFloat(string(fields[5+i]), 64); err != nil {
				return nil, fmt.Errorf("dataset: cmapss line %d: sensor %d: %w", line, i+1, err)
			}
		}
		out = append(out, c)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("dataset: cmapss: %w", err)
	}
	return out, nil
}

// cmapssInt parses a positive integer field.
func cmapssInt(b []byte) (int, error) {
	v, err := strconv.Atoi(string(b))
	if err != nil {
		return 0, err
	}
	if v < 1 {
		return 0, fmt.Errorf("%d is not positive", v)
	}
	return v, nil
}

// CMAPSSEngines groups rows into engines in file order. Each engine's rows
// must be contiguous and its cycles must run on by one without gaps.
func CMAPSSEngines(rows []CMAPSSCycle) ([]CMAPSSEngine, error) {
	var out []CMAPSSEngine
	seen := make(map[int]bool)
	for i := 0; i < len(rows); {
		j := i + 1
		for j < len(rows) && rows[j].Unit == rows[i].Unit {
			if rows[j].Cycle != rows[j-1].Cycle+1 {
				return nil, fmt.Errorf("dataset: cmapss unit %d: cycle %d follows cycle %d", rows[j].Unit, rows[j].Cycle, rows[j-1].Cycle)
			}
			j++
		}
		if seen[rows[i].Unit] {
			return nil, fmt.Errorf("dataset: cmapss unit %d: rows not contiguous", rows[i].Unit)
		}
		seen[rows[i].Unit] = true
		out = append(out, CMAPSSEngine{Unit: rows[i].Unit, Cycles: rows[i:j:j]})
		i = j
	}
	return out, nil
}

// LoadCMAPSSEngines reads the train or test file at path and groups it
// into engines.
func LoadCMAPSSEngines(path string) ([]CMAPSSEngine, error) {
	rows, err := LoadCMAPSS(path)
	if err != nil {
		return nil, err
	}
	return CMAPSSEngines(rows)
}

// LoadCMAPSSRUL reads the RUL file at path.
func LoadCMAPSSRUL(path string) ([]int, error) {
	return loadFile(path, ReadCMAPSSRUL)
}

// ReadCMAPSSRUL parses a C-MAPSS RUL file: one non-negative integer a
// line, the true remaining useful life of test engine i at its last test
// cycle on line i. Blank lines are skipped.
func ReadCMAPSSRUL(r io.Reader) ([]int, error) {
	sc := bufio.NewScanner(r)
	var out []int
	for line := 1; sc.Scan(); line++ {
		fields := bytes.Fields(sc.Bytes())
		switch len(fields) {
		case 0:
			continue
		case 1:
		default:
			return nil, fmt.Errorf("dataset: cmapss rul line %d: %d fields, want 1", line, len(fields))
		}
		v, err := strconv.Atoi(string(fields[0]))
		if err != nil {
			return nil, fmt.Errorf("dataset: cmapss rul line %d: %w", line, err)
		}
		if v < 0 {
			return nil, fmt.Errorf("dataset: cmapss rul line %d: negative RUL %d", line, v)
		}
		out = append(out, v)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("dataset: cmapss rul: %w", err)
	}
	if len(out) == 0 {
		return nil, errors.New("dataset: cmapss rul: no values")
	}
	return out, nil
}
