package modelfile

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"strings"
	"testing"

	"github.com/smartmaint/smartmaint/internal/ml/gbdt"
	"github.com/smartmaint/smartmaint/internal/ml/iforest"
)

// FuzzUnmarshal feeds model files whose header and checksum are right but
// whose kind, feature count and body are arbitrary, so the fuzzer gets past
// the checksum into the model decoders: a file from a damaged or hostile
// artifact store must fail cleanly, and a model that decodes must score a
// vector of its width without panicking and survive a round trip.
func FuzzUnmarshal(f *testing.F) {
	X, y := data(200)
	forest, err := iforest.Train(X, iforest.Params{Seed: 1, Trees: 5})
	if err != nil {
		f.Fatal(err)
	}
	gp := gbdt.DefaultParams()
	gp.MaxIter, gp.MaxLeafNodes, gp.EarlyStopping = 3, 4, false
	trees, err := gbdt.Train(X, y, gp)
	if err != nil {
		f.Fatal(err)
	}
	for _, m := range []Model{
		{Meta: Metadata{FeatureNames: names}, Scorer: forest},
		{Meta: Metadata{FeatureNames: names}, Scorer: trees},
	} {
		b, err := Marshal(m)
		if err != nil {
			f.Fatal(err)
		}
		_, rest, _ := bytes.Cut(b, []byte("\n"))
		_, body, _ := bytes.Cut(rest, []byte("\n"))
		f.Add(KindOf(m.Scorer), uint8(3), body)
	}
	f.Add(KindGBDT, uint8(1), []byte(`{"base":0,"num_features":1}`))
	f.Add(KindIsolationForest, uint8(0), []byte(`{"trees":null}`))
	f.Fuzz(func(t *testing.T, kind string, features uint8, body []byte) {
		sum := sha256.Sum256(body)
		meta, _ := json.Marshal(Metadata{Kind: kind, FeatureNames: make([]string, features), BodySize: len(body), BodySHA256: hex.EncodeToString(sum[:])})
		var file bytes.Buffer
		file.WriteString(Format + " 1\n")
		file.Write(meta)
		file.WriteByte('\n')
		file.Write(body)
		m, err := Unmarshal(file.Bytes())
		if err != nil {
			if !strings.HasPrefix(err.Error(), "modelfile: ") {
				t.Fatalf("error %q does not say where it comes from", err)
			}
			return
		}
		n := m.Scorer.NumFeatures()
		if n != int(features) {
			t.Fatalf("model of %d features accepted with %d names", n, features)
		}
		m.Scorer.Score(make([]float64, n))
		m.Scorer.Score(append(make([]float64, n-1), 1e308))
		for i := range m.Meta.FeatureNames {
			m.Meta.FeatureNames[i] = string(rune('a' + i%26))
		}
		again, err := Marshal(m)
		if err != nil {
			t.Fatalf("a decoded model does not encode: %v", err)
		}
		if _, err := Unmarshal(again); err != nil {
			t.Fatalf("a decoded model does not survive a round trip: %v", err)
		}
	})
}
