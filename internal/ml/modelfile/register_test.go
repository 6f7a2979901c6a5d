package modelfile

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"math"
	"slices"
	"strings"
	"testing"
)

// constant is a model of an externally registered kind: it scores every
// vector of its width with the same value.
type constant struct {
	width int
	value float64
}

func (c *constant) Score(x []float64) float64 { return c.value }
func (c *constant) NumFeatures() int          { return c.width }
func (c *constant) ModelKind() string         { return "test_constant" }
func (c *constant) ModelParams() any          { return map[string]int{"width": c.width} }

func (c *constant) MarshalBinary() ([]byte, error) {
	b := binary.LittleEndian.AppendUint32(nil, uint32(c.width))
	return binary.LittleEndian.AppendUint64(b, math.Float64bits(c.value)), nil
}

func decodeConstant(body []byte) (Scorer, error) {
	if len(body) != 12 {
		return nil, errors.New("constant: body is not 12 bytes")
	}
	if body[0] == 0xff {
		panic("constant: hostile body")
	}
	return &constant{width: int(binary.LittleEndian.Uint32(body)), value: math.Float64frombits(binary.LittleEndian.Uint64(body[4:]))}, nil
}

// unregistered is an Encoder whose kind nobody registered.
type unregistered struct{ constant }

func (unregistered) ModelKind() string { return "test_unregistered" }

func init() { Register("test_constant", decodeConstant) }

func TestRegisteredKind(t *testing.T) {
	m := Model{Meta: Metadata{FeatureNames: []string{"x", "y"}}, Scorer: &constant{width: 2, value: 0.25}}
	if k := KindOf(m.Scorer); k != "test_constant" {
		t.Fatalf("KindOf = %q", k)
	}
	b, err := Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(b, []byte(`smartmaint-model 1`+"\n"+`{"kind":"test_constant"`)) {
		t.Errorf("file starts %q", b[:50])
	}
	got, err := Unmarshal(b)
	if err != nil {
		t.Fatal(err)
	}
	if got.Meta.Kind != "test_constant" || string(got.Meta.Params) != `{"width":2}` {
		t.Errorf("metadata kind %q params %s", got.Meta.Kind, got.Meta.Params)
	}
	if s := got.Scorer.Score([]float64{1, 2}); s != 0.25 {
		t.Errorf("score after round trip %v, want 0.25", s)
	}
	if !slices.Contains(Kinds(), "test_constant") {
		t.Errorf("Kinds() = %v", Kinds())
	}
	if k := KnownKinds(); !slices.Contains(k, "test_constant") || !slices.Contains(k, KindGBDT) || !slices.Contains(k, KindIsolationForest) || !slices.IsSorted(k) {
		t.Errorf("KnownKinds() = %v", k)
	}
}

func TestRegisteredKindRejects(t *testing.T) {
	if _, err := Marshal(Model{Meta: Metadata{FeatureNames: []string{"x"}}, Scorer: &unregistered{constant{width: 1}}}); err == nil || !strings.Contains(err.Error(), "not registered") {
		t.Errorf("an unregistered kind was written: %v", err)
	}
	for name, body := range map[string][]byte{
		"short":   {1, 2, 3},
		"panic":   bytes.Repeat([]byte{0xff}, 12),
		"narrow":  make([]byte, 12),
		"unknown": nil,
	} {
		t.Run(name, func(t *testing.T) {
			kind := "test_constant"
			if name == "unknown" {
				kind = "test_nobody"
			}
			file := fileWith(t, kind, 2, body)
			_, err := Unmarshal(file)
			if !errors.Is(err, ErrCorrupt) {
				t.Errorf("error %v, want ErrCorrupt", err)
			}
			if unknown := errors.Is(err, ErrUnknownKind); unknown != (name == "unknown") {
				t.Errorf("error %v matches ErrUnknownKind: %v", err, unknown)
			}
			if name == "unknown" && err.Error() != `modelfile: corrupt model file: unknown model kind "test_nobody"` {
				t.Errorf("message %q", err)
			}
		})
	}
}

func TestRegisterPanics(t *testing.T) {
	for name, f := range map[string]func(){
		"empty":     func() { Register("", decodeConstant) },
		"nil":       func() { Register("test_nil", nil) },
		"builtin":   func() { Register(KindGBDT, decodeConstant) },
		"duplicate": func() { Register("test_constant", decodeConstant) },
	} {
		t.Run(name, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Error("Register did not panic")
				}
			}()
			f()
		})
	}
}

// fileWith builds a model file with a correct header and checksum around
// an arbitrary kind and body.
func fileWith(t *testing.T, kind string, features int, body []byte) []byte {
	t.Helper()
	sum := sha256.Sum256(body)
	meta, err := json.Marshal(Metadata{Kind: kind, FeatureNames: make([]string, features), BodySize: len(body), BodySHA256: hex.EncodeToString(sum[:])})
	if err != nil {
		t.Fatal(err)
	}
	var file bytes.Buffer
	file.WriteString(Format + " 1\n")
	file.Write(meta)
	file.WriteByte('\n')
	file.Write(body)
	return file.Bytes()
}
