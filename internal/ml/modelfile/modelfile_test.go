package modelfile

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/smartmaint/smartmaint/internal/ml/gbdt"
	"github.com/smartmaint/smartmaint/internal/ml/iforest"
)

func data(n int) ([][]float64, []bool) {
	r := rand.New(rand.NewPCG(1, 1))
	X := make([][]float64, n)
	y := make([]bool, n)
	for i := range X {
		X[i] = []float64{r.NormFloat64(), r.NormFloat64(), r.NormFloat64()}
		y[i] = X[i][0]+X[i][1] > 1
	}
	return X, y
}

var names = []string{"a", "b", "c"}

func models(t *testing.T) map[string]Model {
	t.Helper()
	X, y := data(800)
	f, err := iforest.Train(X, iforest.Params{Seed: 1, Contamination: 0.02})
	if err != nil {
		t.Fatal(err)
	}
	g, err := gbdt.Train(X, y, gbdt.DefaultParams())
	if err != nil {
		t.Fatal(err)
	}
	meta := Metadata{
		FeatureNames:       names,
		TrainingDataSHA256: DataHash(names, X, y),
		Dataset:            "synthetic",
		Rows:               len(X),
		Metrics:            map[string]float64{"roc_auc": 0.97},
		CreatedAt:          time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC),
	}
	fm, gm := meta, meta
	fm.Threshold = f.Threshold()
	gm.Threshold = 0.5
	return map[string]Model{KindIsolationForest: {Meta: fm, Scorer: f}, KindGBDT: {Meta: gm, Scorer: g}}
}

func TestRoundTrip(t *testing.T) {
	X, _ := data(200)
	for kind, m := range models(t) {
		t.Run(kind, func(t *testing.T) {
			b, err := Marshal(m)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.HasPrefix(b, []byte("smartmaint-model 1\n{\"kind\":\""+kind+"\"")) {
				t.Errorf("file starts %q", b[:60])
			}
			got, err := Unmarshal(b)
			if err != nil {
				t.Fatal(err)
			}
			for _, x := range X {
				if got.Scorer.Score(x) != m.Scorer.Score(x) {
					t.Fatalf("score %v after round trip, %v before", got.Scorer.Score(x), m.Scorer.Score(x))
				}
			}
			want := m.Meta
			want.Kind = kind
			want.Params, want.BodySize, want.BodySHA256 = got.Meta.Params, got.Meta.BodySize, got.Meta.BodySHA256
			if !reflect.DeepEqual(got.Meta, want) {
				t.Errorf("metadata %+v, want %+v", got.Meta, want)
			}
			if len(got.Meta.Params) < 10 || got.Meta.BodySize == 0 {
				t.Errorf("params %s, body size %d", got.Meta.Params, got.Meta.BodySize)
			}
			if KindOf(got.Scorer) != kind || (kind == KindGBDT) != (got.GBDT() != nil) || (kind == KindIsolationForest) != (got.Forest() != nil) {
				t.Error("kind accessors disagree with the kind")
			}
			// Streams give the same bytes.
			var buf bytes.Buffer
			if err := Write(&buf, m); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(buf.Bytes(), b) {
				t.Error("Write and Marshal differ")
			}
			if _, err := Read(&buf); err != nil {
				t.Error(err)
			}
		})
	}
}

func TestRejects(t *testing.T) {
	good, err := Marshal(models(t)[KindGBDT])
	if err != nil {
		t.Fatal(err)
	}
	flip := func(at int) []byte {
		b := bytes.Clone(good)
		b[at] ^= 0x20
		return b
	}
	tests := []struct {
		name string
		in   []byte
		want error
		text string
	}{
		{"empty", nil, ErrNotModel, ""},
		{"other file", []byte("PK\x03\x04 zip file\n"), ErrNotModel, ""},
		{"newer version", bytes.Replace(good, []byte("smartmaint-model 1"), []byte("smartmaint-model 2"), 1), ErrVersion, "version 2"},
		{"body byte flipped", flip(len(good) - 10), ErrCorrupt, "checksum"},
		{"metadata damaged", flip(25), ErrCorrupt, "metadata"},
		{"truncated", good[:len(good)-100], ErrCorrupt, "body"},
		{"trailing bytes", append(bytes.Clone(good), 'x'), ErrCorrupt, "after the body"},
		{"no metadata line end", []byte("smartmaint-model 1\n{\"kind\":"), ErrCorrupt, "metadata"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Unmarshal(tt.in)
			if !errors.Is(err, tt.want) || !strings.Contains(err.Error(), tt.text) {
				t.Fatalf("err = %v, want %v mentioning %q", err, tt.want, tt.text)
			}
		})
	}
}

func TestMarshalChecks(t *testing.T) {
	m := models(t)[KindIsolationForest]
	m.Meta.FeatureNames = names[:2]
	if _, err := Marshal(m); err == nil || !strings.Contains(err.Error(), "2 feature names") {
		t.Errorf("wrong feature count: %v", err)
	}
	if _, err := Marshal(Model{}); err == nil {
		t.Error("model without scorer written")
	}
	m = models(t)[KindIsolationForest]
	m.Meta.CreatedAt = time.Time{}
	b, _ := Marshal(m)
	got, _ := Unmarshal(b)
	if time.Since(got.Meta.CreatedAt) > time.Minute {
		t.Errorf("created at %v, want now", got.Meta.CreatedAt)
	}
}

func TestDataHash(t *testing.T) {
	X, y := data(50)
	h := DataHash(names, X, y)
	if len(h) != 64 || h != DataHash(names, X, y) {
		t.Fatalf("hash %q not stable", h)
	}
	X2, _ := data(50)
	X2[10][1] += 1e-12
	y2 := append([]bool(nil), y...)
	y2[3] = !y2[3]
	for name, other := range map[string]string{
		"value":      DataHash(names, X2, y),
		"label":      DataHash(names, X, y2),
		"no labels":  DataHash(names, X, nil),
		"names":      DataHash([]string{"a", "b", "d"}, X, y),
		"fewer rows": DataHash(names, X[:49], y[:49]),
	} {
		if other == h {
			t.Errorf("changing the %s kept the hash", name)
		}
	}
}
