package dataset

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// IMSTimeLayout is the layout of IMS snapshot file names, which are the
// recording time: 2004.02.12.10.32.39.
const IMSTimeLayout = "2006.01.02.15.04.05"

// IMSDir is the IMS bearing folder (ims-bearing) inside Dir.
func IMSDir() (string, error) {
	d, err := Dir()
	if err != nil {
		return "", err
	}
	return filepath.Join(d, "ims-bearing"), nil
}

// IMSFeaturesPath is the per-snapshot feature CSV (features.csv) of the
// IMS bearing folder.
func IMSFeaturesPath() (string, error) {
	d, err := IMSDir()
	if err != nil {
		return "", err
	}
	return filepath.Join(d, "features.csv"), nil
}

// ParseIMSTime parses an IMS snapshot name (its base name) as a UTC time.
func ParseIMSTime(name string) (time.Time, error) {
	t, err := time.Parse(IMSTimeLayout, filepath.Base(name))
	if err != nil {
		return time.Time{}, fmt.Errorf("dataset: ims snapshot name %q: %w", name, err)
	}
	return t, nil
}

// IMSSnapshot is one IMS snapshot file: a short recording of every channel
// at once.
type IMSSnapshot struct {
	// Name is the file name; Time the recording time it encodes (zero when
	// the name is not in IMSTimeLayout).
	Name string
	Time time.Time
	// Channels holds one slice of samples per channel (column), in file
	// order: Channels[c][i] is sample i of channel c.
	Channels [][]float64
}

// IMSSnapshotNames lists the snapshot files of an IMS run folder (those
// whose names parse with IMSTimeLayout), in time order.
func IMSSnapshotNames(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("dataset: %w", err)
	}
	var names []string
	for _, e := range entries {
		if e.IsDir() {
			continue
		}
		if _, err := time.Parse(IMSTimeLayout, e.Name()); err == nil {
			names = append(names, e.Name())
		}
	}
	slices.Sort(names) // the layout sorts in time order
	return names, nil
}

// LoadIMSSnapshot reads the snapshot file at path.
func LoadIMSSnapshot(path string) (*IMSSnapshot, error) {
	s, err := loadFile(path, func(r io.Reader) (*IMSSnapshot, error) {
		s, err := ReadIMSSnapshot(r)
		if err != nil {
			return nil, fmt.Errorf("%w (%s)", err, path)
		}
		return s, nil
	})
	if err != nil {
		return nil, err
	}
	s.Name = filepath.Base(path)
	if t, err := time.Parse(IMSTimeLayout, s.Name); err == nil {
		s.Time = t
	}
	return s, nil
}

// ReadIMSSnapshot parses an IMS snapshot: one line per sample, one
// whitespace-separated column per channel, LF or CRLF line endings. Blank
// lines are skipped; every other line must have the first line's number of
// columns. Name and Time are left for the caller.
func ReadIMSSnapshot(r io.Reader) (*IMSSnapshot, error) {
	br := bufio.NewReaderSize(r, 1<<16)
	s := &IMSSnapshot{}
	for line := 1; ; line++ {
		b, err := br.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			return nil, fmt.Errorf("dataset: ims snapshot line %d: longer than %d bytes", line, br.Size())
		}
		if err != nil && !errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("dataset: ims snapshot line %d: %w", line, err)
		}
		if perr := s.imsAddLine(b, line); perr != nil {
			return nil, perr
		}
		if err != nil { // io.EOF
			break
		}
	}
	if len(s.Channels) == 0 {
		return nil, errors.New("dataset: ims snapshot: no samples")
	}
	return s, nil
}

// imsAddLine appends one line's samples to s.Channels.
func (s *IMSSnapshot) imsAddLine(b []byte, line int) error {
	first, c := len(s.Channels) == 0, 0
	for {
		b = bytes.TrimLeft(b, " \t\r\n\v\f")
		if len(b) == 0 {
			break
		}
		end := bytes.IndexAny(b, " \t\r\n\v\f")
		if end < 0 {
			end = len(b)
		}
		v, err := strconv.ParseFloat(string(b[:end]), 64)
		if err != nil {
			return fmt.Errorf("dataset: ims snapshot line %d column %d: %w", line, c+1, err)
		}
		if first {
			s.Channels = append(s.Channels, make([]float64, 0, 20480))
		} else if c >= len(s.Channels) {
			return fmt.Errorf("dataset: ims snapshot line %d: more than %d columns", line, len(s.Channels))
		}
		s.Channels[c] = append(s.Channels[c], v)
		c++
		b = b[end:]
	}
	if c > 0 && c != len(s.Channels) {
		return fmt.Errorf("dataset: ims snapshot line %d: %d columns, want %d", line, c, len(s.Channels))
	}
	return nil
}

// IMSFeatureRow is one row of an IMS per-snapshot feature CSV: the
// condition indicators of one channel of one snapshot. Timestamp, snapshot
// name, test name, channel and bearing identify the row and must never be
// used as model features (they encode time to failure); nor must
// RawShipped.
type IMSFeatureRow struct {
	Test     string // run name, for example 2nd_test
	Snapshot string // snapshot file name
	Time     time.Time
	Channel  int // 1-based; 0 when the column is absent
	Bearing  int // 1-based
	// RMS, Kurtosis (Pearson, non-excess) and CrestFactor (peak |x| over
	// RMS) are the indicators every file must have.
	RMS, Kurtosis, CrestFactor float64
	// The optional columns are NaN (Samples 0) when absent.
	Samples                                int
	Mean, Std, PeakAbs, Min, Max, Skewness float64
	RawShipped                             bool // the raw snapshot is in the datasets folder
}

// imsRequired are the feature CSV's required columns.
var imsRequired = []string{"test", "snapshot", "timestamp", "bearing", "rms", "kurtosis", "crest_factor"}

// LoadIMSFeatures reads the feature CSV at path.
func LoadIMSFeatures(path string) ([]IMSFeatureRow, error) {
	return loadFile(path, ReadIMSFeatures)
}

// ReadIMSFeatures parses an IMS per-snapshot feature CSV. The header names
// the columns, in any order; test, snapshot, timestamp, bearing, rms,
// kurtosis and crest_factor are required, and channel, samples, mean, std,
// peak_abs, min, max, skewness and raw_shipped are read when present. Other
// columns are ignored. The timestamp is RFC 3339 or its form without a
// zone (taken as UTC).
func ReadIMSFeatures(r io.Reader) ([]IMSFeatureRow, error) {
	cr := csv.NewReader(r)
	cr.ReuseRecord = true
	header, err := cr.Read()
	if err != nil {
		return nil, fmt.Errorf("dataset: ims features header: %w", err)
	}
	col := make(map[string]int, len(header))
	for i, h := range header {
		col[strings.ToLower(strings.TrimSpace(strings.TrimPrefix(h, "\ufeff")))] = i
	}
	for _, name := range imsRequired {
		if _, ok := col[name]; !ok {
			return nil, fmt.Errorf("dataset: ims features: no %q column", name)
		}
	}
	var out []IMSFeatureRow
	err = eachRecord(cr, "ims features", func(rec []string) error {
		row, err := imsFeatureRow(rec, col)
		if err != nil {
			return err
		}
		out = append(out, row)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// imsFeatureRow decodes one record of the feature CSV.
func imsFeatureRow(rec []string, col map[string]int) (IMSFeatureRow, error) {
	var perr error
	field := func(name string) (string, bool) {
		i, ok := col[name]
		if !ok {
			return "", false
		}
		return strings.TrimSpace(rec[i]), true
	}
	num := func(name string) float64 {
		s, ok := field(name)
		if !ok {
			return math.NaN()
		}
		v, err := strconv.ParseFloat(s, 64)
		if err != nil && perr == nil {
			perr = fmt.Errorf("%s: %w", name, err)
		}
		return v
	}
	integer := func(name string) int {
		s, ok := field(name)
		if !ok {
			return 0
		}
		v, err := strconv.Atoi(s)
		if err != nil && perr == nil {
			perr = fmt.Errorf("%s: %w", name, err)
		}
		return v
	}
	var row IMSFeatureRow
	row.Test, _ = field("test")
	row.Snapshot, _ = field("snapshot")
	ts, _ := field("timestamp")
	t, err := time.Parse(time.RFC3339, ts)
	if err != nil {
		if t, err = time.Parse("2006-01-02T15:04:05", ts); err != nil {
			return row, fmt.Errorf("timestamp %q: %w", ts, err)
		}
	}
	row.Time = t.UTC()
	row.Channel = integer("channel")
	row.Bearing = integer("bearing")
	row.Samples = integer("samples")
	row.RMS, row.Kurtosis, row.CrestFactor = num("rms"), num("kurtosis"), num("crest_factor")
	row.Mean, row.Std, row.PeakAbs = num("mean"), num("std"), num("peak_abs")
	row.Min, row.Max, row.Skewness = num("min"), num("max"), num("skewness")
	if s, ok := field("raw_shipped"); ok && s != "" {
		if row.RawShipped, err = strconv.ParseBool(s); err != nil && perr == nil {
			perr = fmt.Errorf("raw_shipped: %w", err)
		}
	}
	if perr != nil {
		return row, perr
	}
	if row.Bearing < 1 {
		return row, fmt.Errorf("bearing %d", row.Bearing)
	}
	return row, nil
}
