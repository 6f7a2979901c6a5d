package dataset

import (
	"bytes"
	"compress/gzip"
	"compress/zlib"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// cwruTestMAT builds MAT-files for the parser tests.
type cwruTestMAT struct {
	order binary.ByteOrder
	buf   bytes.Buffer
}

func newCWRUTestMAT(order binary.ByteOrder) *cwruTestMAT {
	m := &cwruTestMAT{order: order}
	h := make([]byte, 128)
	copy(h, "MATLAB 5.0 MAT-file, Platform: test")
	for i := 35; i < 116; i++ {
		h[i] = ' '
	}
	order.PutUint16(h[124:], 0x0100)
	if order == binary.LittleEndian {
		copy(h[126:], "IM")
	} else {
		copy(h[126:], "MI")
	}
	m.buf.Write(h)
	return m
}

// element encodes one tagged element, small when it fits and small is set.
func (m *cwruTestMAT) element(typ uint32, data []byte, small bool) []byte {
	var b bytes.Buffer
	if small && len(data) <= 4 {
		binary.Write(&b, m.order, uint32(len(data))<<16|typ)
		d := make([]byte, 4)
		copy(d, data)
		b.Write(d)
		return b.Bytes()
	}
	binary.Write(&b, m.order, typ)
	binary.Write(&b, m.order, uint32(len(data)))
	b.Write(data)
	for b.Len()%8 != 0 {
		b.WriteByte(0)
	}
	return b.Bytes()
}

// matrix encodes a miMATRIX of class with real (and optionally imaginary)
// values stored as data type typ.
func (m *cwruTestMAT) matrix(name string, class uint8, dims []int32, typ uint32, re, im []float64) []byte {
	var body bytes.Buffer
	flags := make([]byte, 8)
	f := uint32(class)
	if im != nil {
		f |= cwruFlagComplex
	}
	m.order.PutUint32(flags, f)
	body.Write(m.element(cwruMiUINT32, flags, false))
	var d bytes.Buffer
	binary.Write(&d, m.order, dims)
	body.Write(m.element(cwruMiINT32, d.Bytes(), false))
	body.Write(m.element(cwruMiINT8, []byte(name), true))
	for _, part := range [][]float64{re, im} {
		if part == nil {
			continue
		}
		var p bytes.Buffer
		for _, v := range part {
			switch typ {
			case cwruMiDOUBLE:
				binary.Write(&p, m.order, v)
			case cwruMiUINT16:
				binary.Write(&p, m.order, uint16(v))
			case cwruMiINT8:
				binary.Write(&p, m.order, int8(v))
			case cwruMiSINGLE:
				binary.Write(&p, m.order, float32(v))
			}
		}
		body.Write(m.element(typ, p.Bytes(), true))
	}
	return m.element(cwruMiMATRIX, body.Bytes(), false)
}

func (m *cwruTestMAT) compressed(el []byte) []byte {
	var z bytes.Buffer
	w := zlib.NewWriter(&z)
	w.Write(el)
	w.Close()
	var b bytes.Buffer
	binary.Write(&b, m.order, uint32(cwruMiCOMPRESSED))
	binary.Write(&b, m.order, uint32(z.Len()))
	b.Write(z.Bytes()) // not padded
	return b.Bytes()
}

func TestReadMAT(t *testing.T) {
	wave := []float64{0.5, -1.25, 3, 1e-9, -7}
	for _, order := range []binary.ByteOrder{binary.LittleEndian, binary.BigEndian} {
		t.Run(order.String(), func(t *testing.T) {
			m := newCWRUTestMAT(order)
			m.buf.Write(m.matrix("X001_DE_time", 6, []int32{5, 1}, cwruMiDOUBLE, wave, nil))
			m.buf.Write(m.matrix("txt", 4, []int32{1, 2}, cwruMiUINT16, []float64{'h', 'i'}, nil)) // char: skipped
			m.buf.Write(m.compressed(m.matrix("X001RPM", 6, []int32{1, 1}, cwruMiUINT16, []float64{1797}, nil)))
			m.buf.Write(m.matrix("z", 6, []int32{1, 2}, cwruMiINT8, []float64{-3, 4}, []float64{1, -2}))
			m.buf.Write(m.compressed(m.matrix("s", 7, []int32{2, 1}, cwruMiSINGLE, []float64{0.25, 8}, nil)))
			vars, err := ReadMAT(bytes.NewReader(m.buf.Bytes()))
			if err != nil {
				t.Fatal(err)
			}
			want := []MATVar{
				{Name: "X001_DE_time", Dims: []int{5, 1}, Class: "double", Real: wave},
				{Name: "X001RPM", Dims: []int{1, 1}, Class: "double", Real: []float64{1797}},
				{Name: "z", Dims: []int{1, 2}, Class: "double", Real: []float64{-3, 4}, Imag: []float64{1, -2}},
				{Name: "s", Dims: []int{2, 1}, Class: "single", Real: []float64{0.25, 8}},
			}
			if len(vars) != len(want) {
				t.Fatalf("%d variables %+v, want %d", len(vars), vars, len(want))
			}
			for i, w := range want {
				g := vars[i]
				if g.Name != w.Name || g.Class != w.Class || !slices.Equal(g.Dims, w.Dims) || !slices.Equal(g.Real, w.Real) || !slices.Equal(g.Imag, w.Imag) {
					t.Errorf("variable %d: %+v, want %+v", i, g, w)
				}
			}
			rec, err := ReadCWRU(bytes.NewReader(m.buf.Bytes()), "IR007_0.mat")
			if err != nil {
				t.Fatal(err)
			}
			if rec.Number != 1 || rec.RPM != 1797 || rec.Class != CWRUInnerRace || rec.SampleRate != 12000 || !slices.Equal(rec.DE, wave) || rec.BA != nil {
				t.Errorf("recording %+v", rec)
			}
		})
	}
}

func TestReadMATMalformed(t *testing.T) {
	m := newCWRUTestMAT(binary.LittleEndian)
	m.buf.Write(m.matrix("x", 6, []int32{3, 1}, cwruMiDOUBLE, []float64{1, 2, 3}, nil))
	good := m.buf.Bytes()
	badVersion := slices.Clone(good)
	badVersion[124] = 9
	badEndian := slices.Clone(good)
	copy(badEndian[126:], "XX")
	wrongCount := slices.Clone(good)
	wrongCount[128+8+16+8] = 4 // first dimension 4 for 3 values
	for _, c := range []struct {
		name string
		in   []byte
	}{
		{"empty", nil},
		{"text", []byte("hello, world")},
		{"version", badVersion},
		{"endian", badEndian},
		{"truncated", good[:len(good)-9]},
		{"count", wrongCount},
		{"tag", good[:128+5]},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := ReadMAT(bytes.NewReader(c.in))
			if err == nil {
				t.Fatal("no error")
			}
			t.Log(err)
		})
	}
	if _, err := ReadMAT(bytes.NewReader([]byte("plain text that is long enough to be a header but is not one at all, no, not at all, never, not even close to a real one, no"))); !errors.Is(err, ErrNotMAT) {
		t.Errorf("error %v, want ErrNotMAT", err)
	}
}

// TestCWRUSource checks the recordings against cwru/SOURCE.md.
func TestCWRUSource(t *testing.T) {
	dir, err := CWRUDir()
	if err != nil {
		t.Skip(err)
	}
	if _, err := os.Stat(filepath.Join(dir, CWRUFiles[0])); err != nil {
		t.Skip(err)
	}
	for _, c := range []struct {
		file       string
		number     int
		class      string
		vars       []string
		n          int
		rpm        float64
		rate       float64
		rms        float64
		gz, inside string
	}{
		{"normal_0.mat.gz", 97, CWRUNormal, []string{"X097_DE_time", "X097_FE_time", "X097RPM"}, 243938, 1796, 48000, 0.074,
			"b30c77d7d81940cfa1de5721f40c4d3bff69565c46ba455d8f90deaf0896b4b3", "16bf48babcf1c7ac224bc1a81cd9eafdb27e42d5cf559761907e067e8eeadf3c"},
		{"IR007_0.mat.gz", 105, CWRUInnerRace, []string{"X105_DE_time", "X105_FE_time", "X105_BA_time", "X105RPM"}, 121265, 1797, 12000, 0.292,
			"c6a4f39f4c3def753a3abc7732e53f1138ae317c79ddd8554f8f6c996f82abcc", "f80b0ea04fd06b372a0eaec7c056543ea37e4bb4727a5b173d2a5bacd2aa9cab"},
		{"B007_0.mat.gz", 118, CWRUBall, []string{"X118_DE_time", "X118_FE_time", "X118_BA_time", "X118RPM"}, 122571, 1796, 12000, 0.139,
			"249127644d7607497ec1c88b74997fc70db173dbe8d7c5607471ce929a41797e", "b00628f8dd8d1d930af77fa465d1e5cdb385fe259489053f91f3680bda7f640e"},
		{"OR007_centered_at_6_0.mat.gz", 130, CWRUOuterRace, []string{"X130_DE_time", "X130_FE_time", "X130_BA_time", "X130RPM"}, 121991, 1796, 12000, 0.670,
			"b168cc2535a13d30c63ac833c767780518dde4b21973ce99398bb7df74957026", "35a095307d0971477049b343a1b5981dde465a58fb7f233ad89b035068c1717d"},
	} {
		t.Run(c.file, func(t *testing.T) {
			path := filepath.Join(dir, c.file)
			gz, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			zr, err := gzip.NewReader(bytes.NewReader(gz))
			if err != nil {
				t.Fatal(err)
			}
			raw, err := io.ReadAll(zr)
			if err != nil {
				t.Fatal(err)
			}
			for _, s := range []struct {
				what string
				b    []byte
				want string
			}{{"gz", gz, c.gz}, {"mat", raw, c.inside}} {
				sum := sha256.Sum256(s.b)
				if got := hex.EncodeToString(sum[:]); got != s.want {
					t.Errorf("%s sha256 %s, want %s", s.what, got, s.want)
				}
			}
			rec, err := LoadCWRU(path)
			if err != nil {
				t.Fatal(err)
			}
			var names []string
			for _, v := range rec.Vars {
				names = append(names, v.Name)
				if v.Class != "double" {
					t.Errorf("%s is %s, want double", v.Name, v.Class)
				}
			}
			slices.Sort(names)
			want := slices.Sorted(slices.Values(c.vars))
			if !slices.Equal(names, want) {
				t.Errorf("variables %v, want %v", names, want)
			}
			for _, name := range c.vars[:len(c.vars)-1] {
				v, _ := rec.Var(name)
				if len(v.Real) != c.n || !slices.Equal(v.Dims, []int{c.n, 1}) {
					t.Errorf("%s: %d values, dims %v, want %d×1", name, len(v.Real), v.Dims, c.n)
				}
			}
			if rec.Number != c.number || rec.Class != c.class || rec.RPM != c.rpm || rec.SampleRate != c.rate {
				t.Errorf("number %d class %s rpm %v rate %v, want %d %s %v %v", rec.Number, rec.Class, rec.RPM, rec.SampleRate, c.number, c.class, c.rpm, c.rate)
			}
			if (rec.BA == nil) != (c.class == CWRUNormal) || len(rec.DE) != c.n || len(rec.FE) != c.n {
				t.Errorf("channels DE %d FE %d BA %d", len(rec.DE), len(rec.FE), len(rec.BA))
			}
			var ss float64
			for _, x := range rec.DE {
				ss += x * x
			}
			if rms := math.Sqrt(ss / float64(len(rec.DE))); math.Abs(rms-c.rms) > 0.0005 {
				t.Errorf("drive-end rms %.4f, want %.3f", rms, c.rms)
			}
		})
	}
}
