package dataset

import (
	"bytes"
	"compress/gzip"
	"compress/zlib"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
)

// MATVar is one numeric variable of a MATLAB level-5 MAT-file, converted to
// float64 and stored column-major as MATLAB does.
type MATVar struct {
	Name string
	// Dims are the array dimensions (rows, columns, …).
	Dims []int
	// Class is the MATLAB class, for example "double" or "uint16".
	Class string
	Real  []float64
	// Imag is the imaginary part of a complex array, else nil.
	Imag []float64
}

// ErrNotMAT means the input is not a MATLAB level-5 MAT-file.
var ErrNotMAT = errors.New("dataset: not a MATLAB 5 MAT-file")

// MAT-file data types and array classes (MATLAB's "MAT-File Format", level 5).
const (
	cwruMiINT8       = 1
	cwruMiUINT8      = 2
	cwruMiINT16      = 3
	cwruMiUINT16     = 4
	cwruMiINT32      = 5
	cwruMiUINT32     = 6
	cwruMiSINGLE     = 7
	cwruMiDOUBLE     = 9
	cwruMiINT64      = 12
	cwruMiUINT64     = 13
	cwruMiMATRIX     = 14
	cwruMiCOMPRESSED = 15
	cwruMiUTF8       = 16

	cwruFlagComplex = 0x0800
)

var cwruClassNames = map[uint8]string{
	6: "double", 7: "single", 8: "int8", 9: "uint8", 10: "int16", 11: "uint16",
	12: "int32", 13: "uint32", 14: "int64", 15: "uint64",
}

// cwruMaxUncompressed bounds what one miCOMPRESSED element may inflate to.
const cwruMaxUncompressed = 1 << 30

// ReadMAT parses a MATLAB level-5 MAT-file (uncompressed, or with
// miCOMPRESSED elements as MATLAB 7 writes them; either byte order) and
// returns its numeric arrays in file order. Variables of other classes
// (cell, struct, object, char, sparse) are skipped.
func ReadMAT(r io.Reader) ([]MATVar, error) {
	b, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("dataset: mat: %w", err)
	}
	if len(b) < 128 || !bytes.HasPrefix(b, []byte("MATLAB 5.0 MAT-file")) {
		return nil, ErrNotMAT
	}
	var order binary.ByteOrder
	switch string(b[126:128]) {
	case "IM":
		order = binary.LittleEndian
	case "MI":
		order = binary.BigEndian
	default:
		return nil, fmt.Errorf("%w: endian indicator %q", ErrNotMAT, b[126:128])
	}
	if v := order.Uint16(b[124:126]); v != 0x0100 {
		return nil, fmt.Errorf("%w: version %#x", ErrNotMAT, v)
	}
	p := cwruParser{order: order}
	var out []MATVar
	if err := p.elements(b[128:], true, &out); err != nil {
		return nil, err
	}
	return out, nil
}

type cwruParser struct{ order binary.ByteOrder }

// tag reads one data element tag at the start of b and returns its type,
// its data and the bytes after it (padded to 8 bytes, except compressed
// elements).
func (p cwruParser) tag(b []byte) (typ uint32, data, rest []byte, err error) {
	if len(b) < 8 {
		return 0, nil, nil, fmt.Errorf("dataset: mat: %d-byte element tag", len(b))
	}
	first := p.order.Uint32(b)
	if first>>16 != 0 { // small data element: type, size and data in 8 bytes
		typ, n := first&0xffff, int(first>>16)
		if n > 4 {
			return 0, nil, nil, fmt.Errorf("dataset: mat: small element of %d bytes", n)
		}
		return typ, b[4 : 4+n], b[8:], nil
	}
	n := uint64(p.order.Uint32(b[4:]))
	if n > uint64(len(b)-8) {
		return 0, nil, nil, fmt.Errorf("dataset: mat: element of %d bytes with %d left", n, len(b)-8)
	}
	data = b[8 : 8+n]
	end := 8 + n
	if first != cwruMiCOMPRESSED {
		end = min((end+7)&^7, uint64(len(b)))
	}
	return first, data, b[end:], nil
}

// elements parses the top-level elements of b into out.
func (p cwruParser) elements(b []byte, top bool, out *[]MATVar) error {
	for len(b) > 0 {
		typ, data, rest, err := p.tag(b)
		if err != nil {
			return err
		}
		b = rest
		switch typ {
		case cwruMiCOMPRESSED:
			if !top {
				return errors.New("dataset: mat: nested compressed element")
			}
			zr, err := zlib.NewReader(bytes.NewReader(data))
			if err != nil {
				return fmt.Errorf("dataset: mat: compressed element: %w", err)
			}
			inner, err := io.ReadAll(io.LimitReader(zr, cwruMaxUncompressed+1))
			if err == nil {
				err = zr.Close()
			}
			if err != nil {
				return fmt.Errorf("dataset: mat: compressed element: %w", err)
			}
			if len(inner) > cwruMaxUncompressed {
				return errors.New("dataset: mat: compressed element inflates past 1 GiB")
			}
			if err := p.elements(inner, false, out); err != nil {
				return err
			}
		case cwruMiMATRIX:
			v, ok, err := p.matrix(data)
			if err != nil {
				return err
			}
			if ok {
				*out = append(*out, v)
			}
		default:
			// Other top-level elements carry nothing this reader returns.
		}
	}
	return nil
}

// matrix parses the body of a miMATRIX element; ok is false for an array
// that is not numeric.
func (p cwruParser) matrix(b []byte) (v MATVar, ok bool, err error) {
	if len(b) == 0 { // an empty array
		return v, false, nil
	}
	typ, flags, b, err := p.tag(b)
	if err != nil {
		return v, false, err
	}
	if typ != cwruMiUINT32 || len(flags) != 8 {
		return v, false, errors.New("dataset: mat: array flags missing")
	}
	f := p.order.Uint32(flags)
	class, complexArr := uint8(f&0xff), f&cwruFlagComplex != 0
	name, numeric := cwruClassNames[class]
	if !numeric {
		return v, false, nil
	}
	v.Class = name
	typ, dims, b, err := p.tag(b)
	if err != nil {
		return v, false, err
	}
	if typ != cwruMiINT32 || len(dims) < 8 || len(dims)%4 != 0 {
		return v, false, errors.New("dataset: mat: dimensions missing")
	}
	n := 1
	for i := 0; i < len(dims); i += 4 {
		d := int(int32(p.order.Uint32(dims[i:])))
		if d < 0 || (d > 0 && n > math.MaxInt32/d) {
			return v, false, fmt.Errorf("dataset: mat: dimension %d", d)
		}
		v.Dims = append(v.Dims, d)
		n *= d
	}
	typ, nameb, b, err := p.tag(b)
	if err != nil {
		return v, false, err
	}
	if typ != cwruMiINT8 && typ != cwruMiUTF8 {
		return v, false, errors.New("dataset: mat: array name missing")
	}
	v.Name = string(nameb)
	if v.Real, b, err = p.numbers(b, n); err != nil {
		return v, false, fmt.Errorf("dataset: mat: %s: %w", v.Name, err)
	}
	if complexArr {
		if v.Imag, _, err = p.numbers(b, n); err != nil {
			return v, false, fmt.Errorf("dataset: mat: %s imaginary part: %w", v.Name, err)
		}
	}
	return v, true, nil
}

// numbers reads a numeric element of n values, whatever type they were
// stored as, converting them to float64.
func (p cwruParser) numbers(b []byte, n int) ([]float64, []byte, error) {
	typ, data, rest, err := p.tag(b)
	if err != nil {
		return nil, nil, err
	}
	size := map[uint32]int{cwruMiINT8: 1, cwruMiUINT8: 1, cwruMiINT16: 2, cwruMiUINT16: 2, cwruMiINT32: 4,
		cwruMiUINT32: 4, cwruMiSINGLE: 4, cwruMiDOUBLE: 8, cwruMiINT64: 8, cwruMiUINT64: 8}[typ]
	if size == 0 {
		return nil, nil, fmt.Errorf("data type %d is not numeric", typ)
	}
	if len(data) != n*size {
		return nil, nil, fmt.Errorf("%d bytes of type %d for %d values", len(data), typ, n)
	}
	out := make([]float64, n)
	o := p.order
	for i := range out {
		d := data[i*size:]
		switch typ {
		case cwruMiINT8:
			out[i] = float64(int8(d[0]))
		case cwruMiUINT8:
			out[i] = float64(d[0])
		case cwruMiINT16:
			out[i] = float64(int16(o.Uint16(d)))
		case cwruMiUINT16:
			out[i] = float64(o.Uint16(d))
		case cwruMiINT32:
			out[i] = float64(int32(o.Uint32(d)))
		case cwruMiUINT32:
			out[i] = float64(o.Uint32(d))
		case cwruMiSINGLE:
			out[i] = float64(math.Float32frombits(o.Uint32(d)))
		case cwruMiDOUBLE:
			out[i] = math.Float64frombits(o.Uint64(d))
		case cwruMiINT64:
			out[i] = float64(int64(o.Uint64(d)))
		case cwruMiUINT64:
			out[i] = float64(o.Uint64(d))
		}
	}
	return out, rest, nil
}

// CWRU fault classes, from the file name (never from the data).
const (
	CWRUNormal    = "normal"
	CWRUInnerRace = "inner_race"
	CWRUBall      = "ball"
	CWRUOuterRace = "outer_race"
)

// CWRUDir is the cwru folder inside Dir.
func CWRUDir() (string, error) {
	d, err := Dir()
	if err != nil {
		return "", err
	}
	return filepath.Join(d, "cwru"), nil
}

// CWRUFiles are the recordings in the cwru folder.
var CWRUFiles = []string{"normal_0.mat.gz", "IR007_0.mat.gz", "B007_0.mat.gz", "OR007_centered_at_6_0.mat.gz"}

// CWRURecording is one CWRU bearing recording: the accelerometer channels
// of one MAT-file and the conditions its file name states.
type CWRURecording struct {
	// Number is CWRU's file number, from the variable names (97 normal,
	// 105 inner race, …). Like the file name it identifies the recording
	// and must not be used as a feature.
	Number int
	// Class is CWRUNormal, CWRUInnerRace, CWRUBall or CWRUOuterRace, from
	// the file name; "" when the name does not say.
	Class string
	// SampleRate is in samples per second: 48,000 for the normal baseline
	// (files 97–100), 12,000 for the 12k drive-end fault data.
	SampleRate float64
	// RPM is the motor speed stored with the recording (0 when absent).
	RPM float64
	// DE, FE and BA are the drive-end, fan-end and base accelerometers in
	// g; BA is nil in the normal baseline.
	DE, FE, BA []float64
	// Vars are all the numeric variables, named as in the file (for
	// example X097_DE_time).
	Vars []MATVar
}

// Var returns the variable called name, or false.
func (r *CWRURecording) Var(name string) (MATVar, bool) {
	for _, v := range r.Vars {
		if v.Name == name {
			return v, true
		}
	}
	return MATVar{}, false
}

// LoadCWRU reads a CWRU recording (.mat, or .mat.gz gzip-compressed).
func LoadCWRU(path string) (*CWRURecording, error) {
	return loadFile(path, func(r io.Reader) (*CWRURecording, error) {
		if strings.HasSuffix(path, ".gz") {
			zr, err := gzip.NewReader(r)
			if err != nil {
				return nil, fmt.Errorf("dataset: %s: %w", path, err)
			}
			defer zr.Close()
			r = zr
		}
		rec, err := ReadCWRU(r, filepath.Base(path))
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		return rec, nil
	})
}

var cwruVarName = regexp.MustCompile(`^X(\d+)_(DE|FE|BA)_time$|^X(\d+)RPM$`)

// ReadCWRU parses the MAT-file of a CWRU recording; name is its file name,
// which gives the fault class.
func ReadCWRU(r io.Reader, name string) (*CWRURecording, error) {
	vars, err := ReadMAT(r)
	if err != nil {
		return nil, err
	}
	rec := &CWRURecording{Vars: vars, Class: cwruClass(name)}
	for _, v := range vars {
		m := cwruVarName.FindStringSubmatch(v.Name)
		if m == nil {
			continue
		}
		num := m[1] + m[3]
		n, err := strconv.Atoi(num)
		if err != nil {
			return nil, fmt.Errorf("dataset: cwru: variable %s: %w", v.Name, err)
		}
		if rec.Number != 0 && rec.Number != n {
			// Some CWRU files carry a stray variable of another recording;
			// keep the first number's channels.
			continue
		}
		rec.Number = n
		switch m[2] {
		case "DE":
			rec.DE = v.Real
		case "FE":
			rec.FE = v.Real
		case "BA":
			rec.BA = v.Real
		default:
			if len(v.Real) > 0 {
				rec.RPM = v.Real[0]
			}
		}
	}
	if rec.DE == nil {
		return nil, errors.New("dataset: cwru: no drive-end variable X<n>_DE_time")
	}
	rec.SampleRate = 12000
	if rec.Number >= 97 && rec.Number <= 100 {
		rec.SampleRate = 48000
	}
	return rec, nil
}

func cwruClass(name string) string {
	switch base := strings.ToLower(filepath.Base(name)); {
	case strings.HasPrefix(base, "normal"):
		return CWRUNormal
	case strings.HasPrefix(base, "ir"):
		return CWRUInnerRace
	case strings.HasPrefix(base, "or"):
		return CWRUOuterRace
	case strings.HasPrefix(base, "b"):
		return CWRUBall
	}
	return ""
}
