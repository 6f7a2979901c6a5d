package dataset

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"strings"
	"testing"
)

// TestCMAPSSFiles checks the shipped FD001 files against SOURCE.md: the
// checksums, row counts, 100 engines a file, cycle ranges and the RUL
// file's range and first value.
func TestCMAPSSFiles(t *testing.T) {
	sums := map[string]string{
		"train_FD001.txt": "963b5e22825b34d8b21c69e1aeb4af3e647050eb672ee8834ba4b5d91d2de0f8",
		"test_FD001.txt":  "3cda7109ce17bafb5443f2ac926cfcf88154b941b8c4cf95eb55d1ddd6f52851",
		"RUL_FD001.txt":   "a19c8ec94931949d0485bdc35118206e9c81c4547b422efb9cf86f4ceddbceca",
	}
	for name, want := range sums {
		path, err := CMAPSSPath(name)
		if err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if s := sha256.Sum256(b); hex.EncodeToString(s[:]) != want {
			t.Errorf("%s: sha256 %x, want %s", name, s, want)
		}
	}
	tests := []struct {
		file             string
		rows             int
		minLen, maxLen   int
		wantFirstSensor2 float64
	}{
		{"train_FD001.txt", 20631, 128, 362, 641.82},
		{"test_FD001.txt", 13096, 31, 303, 643.02},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			path, _ := CMAPSSPath(tt.file)
			rows, err := LoadCMAPSS(path)
			if err != nil {
				t.Fatal(err)
			}
			if len(rows) != tt.rows {
				t.Fatalf("%d rows, want %d", len(rows), tt.rows)
			}
			if rows[0].Sensors[1] != tt.wantFirstSensor2 || rows[0].Unit != 1 || rows[0].Cycle != 1 {
				t.Errorf("first row %+v", rows[0])
			}
			engines, err := CMAPSSEngines(rows)
			if err != nil {
				t.Fatal(err)
			}
			if len(engines) != 100 {
				t.Fatalf("%d engines, want 100", len(engines))
			}
			lo, hi := len(rows), 0
			for i, e := range engines {
				if e.Unit != i+1 || e.Cycles[0].Cycle != 1 {
					t.Errorf("engine %d is unit %d starting at cycle %d", i, e.Unit, e.Cycles[0].Cycle)
				}
				lo, hi = min(lo, len(e.Cycles)), max(hi, len(e.Cycles))
			}
			if lo != tt.minLen || hi != tt.maxLen {
				t.Errorf("engine lengths %d–%d, want %d–%d", lo, hi, tt.minLen, tt.maxLen)
			}
		})
	}
	path, _ := CMAPSSPath("RUL_FD001.txt")
	rul, err := LoadCMAPSSRUL(path)
	if err != nil {
		t.Fatal(err)
	}
	lo, hi := rul[0], rul[0]
	for _, v := range rul {
		lo, hi = min(lo, v), max(hi, v)
	}
	if len(rul) != 100 || rul[0] != 112 || lo != 7 || hi != 145 {
		t.Errorf("RUL: %d values, first %d, range %d–%d; want 100, 112, 7–145", len(rul), rul[0], lo, hi)
	}
}

func TestReadCMAPSS(t *testing.T) {
	row := func(unit, cycle string) string {
		return unit + " " + cycle + " 0.1 -0.2 100.0" + strings.Repeat(" 1.5", 21) + "  \n"
	}
	rows, err := ReadCMAPSS(strings.NewReader(row("7", "3") + "\n" + row("7", "4") + row("2", "1")))
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 3 || rows[0].Unit != 7 || rows[0].Cycle != 3 || rows[0].Settings[1] != -0.2 || rows[2].Sensors[20] != 1.5 {
		t.Fatalf("rows %+v", rows)
	}
	engines, err := CMAPSSEngines(rows)
	if err != nil {
		t.Fatal(err)
	}
	if len(engines) != 2 || len(engines[0].Cycles) != 2 || engines[1].Unit != 2 {
		t.Errorf("engines %+v", engines)
	}

	errs := []struct{ name, body, want string }{
		{"short", "1 1 0.1\n", "3 fields"},
		{"bad number", strings.Replace(row("1", "1"), "0.1", "x", 1), "setting 1"},
		{"bad unit", row("0", "1"), "unit"},
		{"bad cycle", row("1", "a"), "cycle"},
	}
	for _, tt := range errs {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := ReadCMAPSS(strings.NewReader(tt.body)); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v, want mention of %q", err, tt.want)
			}
		})
	}
	for name, body := range map[string]string{
		"gap":           row("1", "1") + row("1", "3"),
		"noncontiguous": row("1", "1") + row("2", "1") + row("1", "2"),
	} {
		rows, err := ReadCMAPSS(strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := CMAPSSEngines(rows); err == nil {
			t.Errorf("%s: CMAPSSEngines accepted %v", name, rows)
		}
	}
}

func TestReadCMAPSSRUL(t *testing.T) {
	got, err := ReadCMAPSSRUL(strings.NewReader("112 \n98 \n\n69\n"))
	if err != nil || len(got) != 3 || got[0] != 112 || got[2] != 69 {
		t.Fatalf("got %v, %v", got, err)
	}
	for _, body := range []string{"", "1 2\n", "-3\n", "x\n"} {
		if _, err := ReadCMAPSSRUL(strings.NewReader(body)); err == nil {
			t.Errorf("%q accepted", body)
		}
	}
}
