package dataset

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/smartmaint/smartmaint/internal/ml/vibration"
)

// TestIMSFeatures checks features.csv against SOURCE.md: its checksum,
// 3,952 rows (3,936 for set No. 2: 984 snapshots × 4 bearings, 10 minutes
// apart from 2004-02-12 10:32:39 to 2004-02-19 06:22:39), 228 rows marked
// raw_shipped (53 × 4 + 2 × 8) and the documented rms ranges.
func TestIMSFeatures(t *testing.T) {
	path, err := IMSFeaturesPath()
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if s := sha256.Sum256(b); hex.EncodeToString(s[:]) != "6c89e23930efba1caf12e68e56bb86c08916be98c1e0128b78518042353aa36f" {
		t.Errorf("features.csv sha256 %x", s)
	}
	rows, err := LoadIMSFeatures(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 3952 {
		t.Fatalf("%d rows, want 3952", len(rows))
	}
	set2 := map[int][]IMSFeatureRow{}
	shipped := 0
	for _, r := range rows {
		if r.Test == "2nd_test" {
			set2[r.Bearing] = append(set2[r.Bearing], r)
		}
		if r.RawShipped {
			shipped++
		}
		if r.Samples != 20480 {
			t.Fatalf("row %+v: %d samples", r, r.Samples)
		}
	}
	if shipped != 228 {
		t.Errorf("%d rows marked raw_shipped, want 228", shipped)
	}
	n := 0
	for b := 1; b <= 4; b++ {
		s := set2[b]
		n += len(s)
		if len(s) != 984 {
			t.Fatalf("bearing %d: %d snapshots, want 984", b, len(s))
		}
		for i := 1; i < len(s); i++ {
			if d := s[i].Time.Sub(s[i-1].Time); d != 10*time.Minute {
				t.Fatalf("bearing %d: %v between %s and %s", b, d, s[i-1].Snapshot, s[i].Snapshot)
			}
		}
	}
	if n != 3936 {
		t.Errorf("%d rows of set No. 2, want 3936", n)
	}
	b1 := set2[1]
	if first, last := b1[0].Time, b1[len(b1)-1].Time; !first.Equal(time.Date(2004, 2, 12, 10, 32, 39, 0, time.UTC)) || !last.Equal(time.Date(2004, 2, 19, 6, 22, 39, 0, time.UTC)) {
		t.Errorf("set No. 2 from %v to %v", first, last)
	}
	// SOURCE.md: bearing 1's rms stays in 0.074..0.082 until 15 Feb; the
	// last two snapshots are near zero on every channel (the rig stopped).
	for _, r := range b1 {
		if r.Time.Before(time.Date(2004, 2, 15, 0, 0, 0, 0, time.UTC)) && (r.RMS < 0.074 || r.RMS > 0.082) {
			t.Errorf("%s: bearing 1 rms %v before 15 Feb", r.Snapshot, r.RMS)
		}
	}
	for b := 1; b <= 4; b++ {
		s := set2[b]
		for _, r := range s[982:] {
			if r.RMS > 0.005 {
				t.Errorf("bearing %d %s: rms %v after the rig stopped", b, r.Snapshot, r.RMS)
			}
		}
		if r := s[981]; r.RMS < 0.05 {
			t.Errorf("bearing %d %s: rms %v at the last running snapshot", b, r.Snapshot, r.RMS)
		}
	}
}

// TestIMSRawFiles checks a few raw snapshots against SHA256SUMS (all of it
// would take too long) and the snapshot counts of SOURCE.md.
func TestIMSRawFiles(t *testing.T) {
	dir, err := IMSDir()
	if err != nil {
		t.Fatal(err)
	}
	sums, err := os.ReadFile(filepath.Join(dir, "SHA256SUMS"))
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(string(sums), "\n"); n != 55 {
		t.Errorf("SHA256SUMS lists %d files, want 55", n)
	}
	for name, want := range map[string]string{
		"2nd_test/2004.02.12.10.32.39": "bbbe024d55d76554a087bbbed3974e36505cd67da6cd066c341c6d35ecb68b7a",
		"2nd_test/2004.02.19.06.02.39": "2d2d4c960926c24fdbe8748b20eda2627693fa21a4d6bcef0ce533ab36e752e2",
		"1st_test/2003.10.22.12.09.13": "fe3974d576359e0d955584f9d9ddabc0b60fb804ca6f08cfdc57192cef56db66",
	} {
		if !strings.Contains(string(sums), want+"  "+name+"\n") {
			t.Errorf("SHA256SUMS has no %s %s", want, name)
		}
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if s := sha256.Sum256(b); hex.EncodeToString(s[:]) != want {
			t.Errorf("%s: sha256 %x, want %s", name, s, want)
		}
	}
	for _, tt := range []struct {
		run         string
		n           int
		first, last string
	}{
		{"2nd_test", 53, "2004.02.12.10.32.39", "2004.02.19.06.22.39"},
		{"1st_test", 2, "2003.10.22.12.06.24", "2003.10.22.12.09.13"},
	} {
		names, err := IMSSnapshotNames(filepath.Join(dir, tt.run))
		if err != nil {
			t.Fatal(err)
		}
		if len(names) != tt.n || names[0] != tt.first || names[len(names)-1] != tt.last {
			t.Errorf("%s: %d snapshots %v..%v, want %d %s..%s", tt.run, len(names), names[0], names[len(names)-1], tt.n, tt.first, tt.last)
		}
	}
}

// TestIMSSnapshotFeatures reads shipped raw snapshots (CRLF set No. 2 and
// LF set No. 1) and checks that package vibration's rms, kurtosis and
// crest factor of every channel agree with the features.csv rows marked
// raw_shipped.
func TestIMSSnapshotFeatures(t *testing.T) {
	dir, _ := IMSDir()
	rows, err := LoadIMSFeatures(filepath.Join(dir, "features.csv"))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]IMSFeatureRow{}
	for _, r := range rows {
		if r.RawShipped {
			want[fmt.Sprintf("%s/%s/%d", r.Test, r.Snapshot, r.Channel)] = r
		}
	}
	for _, tt := range []struct {
		name     string
		channels int
		crlf     bool
	}{
		{"2nd_test/2004.02.12.10.32.39", 4, true},
		{"2nd_test/2004.02.19.05.02.39", 4, true}, // bearing 1 failing: kurtosis 17
		{"2nd_test/2004.02.19.06.22.39", 4, true}, // rig stopped
		{"1st_test/2003.10.22.12.06.24", 8, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(dir, tt.name)
			raw, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if got := strings.Contains(string(raw[:200]), "\r\n"); got != tt.crlf {
				t.Errorf("CRLF line endings %v, want %v", got, tt.crlf)
			}
			s, err := LoadIMSSnapshot(path)
			if err != nil {
				t.Fatal(err)
			}
			if len(s.Channels) != tt.channels {
				t.Fatalf("%d channels, want %d", len(s.Channels), tt.channels)
			}
			if tm, _ := ParseIMSTime(tt.name); !s.Time.Equal(tm) || s.Time.IsZero() {
				t.Errorf("time %v", s.Time)
			}
			for c, x := range s.Channels {
				if len(x) != 20480 {
					t.Fatalf("channel %d: %d samples", c+1, len(x))
				}
				r, ok := want[fmt.Sprintf("%s/%d", tt.name, c+1)]
				if !ok {
					t.Fatalf("no raw_shipped row for channel %d", c+1)
				}
				for _, f := range []struct {
					name      string
					got, want float64
				}{
					{"rms", vibration.RMS(x), r.RMS},
					{"kurtosis", vibration.Kurtosis(x), r.Kurtosis},
					{"crest_factor", vibration.CrestFactor(x), r.CrestFactor},
				} {
					// features.csv has 6 decimals.
					if math.Abs(f.got-f.want) > 1e-6+1e-6*math.Abs(f.want) {
						t.Errorf("channel %d %s = %.7f, features.csv %.6f", c+1, f.name, f.got, f.want)
					}
				}
			}
		})
	}
}

func TestReadIMSFeaturesLayout(t *testing.T) {
	// Columns in another order, an unknown column, the optional ones absent.
	in := "kurtosis,extra,bearing,crest_factor,rms,timestamp,snapshot,test\n" +
		"3.5,x,2,5.1,0.09,2004-02-12T10:32:39,2004.02.12.10.32.39,2nd_test\n"
	rows, err := ReadIMSFeatures(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	r := rows[0]
	if len(rows) != 1 || r.Bearing != 2 || r.RMS != 0.09 || r.Kurtosis != 3.5 || r.CrestFactor != 5.1 || r.Test != "2nd_test" ||
		!r.Time.Equal(time.Date(2004, 2, 12, 10, 32, 39, 0, time.UTC)) || !math.IsNaN(r.Skewness) || r.Channel != 0 || r.RawShipped {
		t.Errorf("rows %+v", rows)
	}
	for _, tt := range []struct{ name, in, want string }{
		{"missing column", "test,snapshot,timestamp,bearing,rms,kurtosis\n", `no "crest_factor"`},
		{"bad number", "test,snapshot,timestamp,bearing,rms,kurtosis,crest_factor\n2nd_test,a,2004-02-12T10:32:39,1,x,3,5\n", "line 2: rms"},
		{"bad time", "test,snapshot,timestamp,bearing,rms,kurtosis,crest_factor\n2nd_test,a,yesterday,1,0.1,3,5\n", "timestamp"},
		{"no bearing", "test,snapshot,timestamp,bearing,rms,kurtosis,crest_factor\n2nd_test,a,2004-02-12T10:32:39,0,0.1,3,5\n", "bearing 0"},
	} {
		if _, err := ReadIMSFeatures(strings.NewReader(tt.in)); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: error %v, want %q", tt.name, err, tt.want)
		}
	}
}

func TestReadIMSSnapshot(t *testing.T) {
	s, err := ReadIMSSnapshot(strings.NewReader("\n1 2\t3\r\n-4 5e-1 6\r\n\n7 8 9"))
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Channels) != 3 || len(s.Channels[0]) != 3 || s.Channels[1][1] != 0.5 || s.Channels[2][2] != 9 || s.Channels[0][1] != -4 {
		t.Errorf("channels %v", s.Channels)
	}
	for _, tt := range []struct{ in, want string }{
		{"1 2\n3\n", "line 2: 1 columns, want 2"},
		{"1 2\n3 4 5\n", "line 2: more than 2"},
		{"1 x\n", "line 1 column 2"},
		{"\n\n", "no samples"},
	} {
		if _, err := ReadIMSSnapshot(strings.NewReader(tt.in)); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%q: error %v, want %q", tt.in, err, tt.want)
		}
	}
}
