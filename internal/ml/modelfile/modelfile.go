// Package modelfile is the on-disk and in-registry form of a trained model:
// versioned, self-describing and checksummed, so that a file can be told
// apart from anything else, read by a human with head(1), and rejected
// cleanly when it is damaged or from a newer format.
//
// A model file is three parts:
//
//	smartmaint-model 1\n                      format name and version
//	{"kind":"gbdt","feature_names":[…],…}\n   metadata, one line of JSON
//	<body_size bytes>                         the model itself
//
// The metadata records the model kind, the feature names in input order,
// the SHA-256 of the training data (DataHash), the training parameters and
// metrics, the creation time, and the body's size and SHA-256. The body is
// the model's own encoding (iforest.Forest or gbdt.Model MarshalBinary, or
// the MarshalBinary of a model whose package registered its kind with
// Register).
//
// Marshal/Unmarshal work on bytes, which is what the model registry stores;
// Write/Read on streams.
package modelfile

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/smartmaint/smartmaint/internal/ml/gbdt"
	"github.com/smartmaint/smartmaint/internal/ml/iforest"
)

// Format and Version open every model file; Read accepts only Version.
const (
	Format  = "smartmaint-model"
	Version = 1
)

// Model kinds.
const (
	KindIsolationForest = "isolation_forest"
	KindGBDT            = "gbdt"
	// KindRUL is package rul's remaining-useful-life model; that package
	// registers it (see Register), so only programs importing it read it.
	KindRUL = "rul"
	// KindBearingHealth is package bearing's health model; that package
	// registers it.
	KindBearingHealth = "bearing_health"
)

// Errors Read and Unmarshal wrap.
var (
	// ErrNotModel means the input does not start with the format header.
	ErrNotModel = errors.New("modelfile: not a smartmaint model file")
	// ErrVersion means the file's format version is not one this build
	// reads.
	ErrVersion = errors.New("modelfile: unsupported format version")
	// ErrCorrupt means the metadata or body is damaged: malformed, cut
	// short, or failing its checksum.
	ErrCorrupt = errors.New("modelfile: corrupt model file")
	// ErrUnknownKind means the file's kind is neither built in nor
	// registered in this program (see Register, KnownKinds). An error that
	// matches it also matches ErrCorrupt.
	ErrUnknownKind = errors.New("modelfile: unknown model kind")
)

// unknownKindError is the error of a file of an unknown kind.
type unknownKindError string

func (e unknownKindError) Error() string {
	return fmt.Sprintf("%v: unknown model kind %q", ErrCorrupt, string(e))
}

// Is matches ErrUnknownKind and, as before the kind had its own error,
// ErrCorrupt.
func (e unknownKindError) Is(target error) bool {
	return target == ErrUnknownKind || target == ErrCorrupt
}

// maxMetadata bounds the metadata line.
const maxMetadata = 1 << 20

// Scorer is what a loaded model does: map a feature vector to a score
// (an anomaly score for an Isolation Forest, a failure probability for
// gradient-boosted trees). Both implementations are allocation-free and
// safe for concurrent use.
type Scorer interface {
	Score(x []float64) float64
	NumFeatures() int
}

// Metadata describes a model.
type Metadata struct {
	// Kind is KindIsolationForest or KindGBDT; Marshal sets it.
	Kind string `json:"kind"`
	// FeatureNames name the inputs in the order Score expects them.
	FeatureNames []string `json:"feature_names"`
	// Threshold is the score at or above which the model raises an alarm.
	Threshold float64 `json:"threshold"`
	// TrainingDataSHA256 identifies the training data (see DataHash).
	TrainingDataSHA256 string `json:"training_data_sha256"`
	// Dataset names the data source, for people.
	Dataset string `json:"dataset,omitempty"`
	// Rows is the number of training rows.
	Rows int `json:"rows,omitempty"`
	// Params are the training parameters; Marshal sets them from the model.
	Params json.RawMessage `json:"params,omitempty"`
	// Metrics are evaluation results, for example cross-validated ROC AUC.
	Metrics map[string]float64 `json:"metrics,omitempty"`
	// CreatedAt is when the model was trained; Marshal sets it when zero.
	CreatedAt time.Time `json:"created_at"`
	// BodySize and BodySHA256 describe the body; Marshal sets them.
	BodySize   int    `json:"body_size"`
	BodySHA256 string `json:"body_sha256"`
}

// Model is a trained model with its metadata.
type Model struct {
	Meta   Metadata
	Scorer Scorer
}

// Forest returns the Isolation Forest, or nil for another kind.
func (m Model) Forest() *iforest.Forest {
	f, _ := m.Scorer.(*iforest.Forest)
	return f
}

// GBDT returns the gradient-boosted trees, or nil for another kind.
func (m Model) GBDT() *gbdt.Model {
	g, _ := m.Scorer.(*gbdt.Model)
	return g
}

// KindOf returns the model kind of s, or "" for a type this format does not
// carry. For an Encoder it is the Encoder's ModelKind.
func KindOf(s Scorer) string {
	switch s := s.(type) {
	case *iforest.Forest:
		return KindIsolationForest
	case *gbdt.Model:
		return KindGBDT
	case Encoder:
		return s.ModelKind()
	}
	return ""
}

// Marshal encodes m, completing its metadata (kind, parameters, body size
// and checksum, creation time when unset).
func Marshal(m Model) ([]byte, error) {
	var buf bytes.Buffer
	if err := Write(&buf, m); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// Write encodes m to w; see Marshal.
func Write(w io.Writer, m Model) error {
	meta := m.Meta
	var (
		body   []byte
		params any
		err    error
	)
	switch s := m.Scorer.(type) {
	case *iforest.Forest:
		meta.Kind, params = KindIsolationForest, s.Params()
		body, err = s.MarshalBinary()
	case *gbdt.Model:
		meta.Kind, params = KindGBDT, s.Params()
		body, err = s.MarshalBinary()
	case nil:
		return errors.New("modelfile: no model to write")
	case Encoder:
		meta.Kind = s.ModelKind()
		if _, ok := registered(meta.Kind); !ok {
			return fmt.Errorf("modelfile: model kind %q of a %T is not registered", meta.Kind, s)
		}
		if p, ok := s.(paramser); ok {
			params = p.ModelParams()
		} else if meta.Params != nil {
			params = meta.Params
		}
		body, err = s.MarshalBinary()
	default:
		return fmt.Errorf("modelfile: cannot write a %T", m.Scorer)
	}
	if err != nil {
		return fmt.Errorf("modelfile: %w", err)
	}
	if len(meta.FeatureNames) != m.Scorer.NumFeatures() {
		return fmt.Errorf("modelfile: %d feature names for a model of %d features", len(meta.FeatureNames), m.Scorer.NumFeatures())
	}
	if meta.Params, err = json.Marshal(params); err != nil {
		return fmt.Errorf("modelfile: params: %w", err)
	}
	if meta.CreatedAt.IsZero() {
		meta.CreatedAt = time.Now().UTC()
	}
	sum := sha256.Sum256(body)
	meta.BodySize, meta.BodySHA256 = len(body), hex.EncodeToString(sum[:])
	head, err := json.Marshal(meta)
	if err != nil {
		return fmt.Errorf("modelfile: metadata: %w", err)
	}
	bw := bufio.NewWriter(w)
	fmt.Fprintf(bw, "%s %d\n", Format, Version)
	bw.Write(head)
	bw.WriteByte('\n')
	bw.Write(body)
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("modelfile: %w", err)
	}
	return nil
}

// Unmarshal decodes a model file, verifying its version and checksum.
func Unmarshal(b []byte) (Model, error) {
	return Read(bytes.NewReader(b))
}

// Read decodes the model file that makes up the whole of r, verifying its
// version and checksum.
func Read(r io.Reader) (Model, error) {
	br := bufio.NewReader(r)
	header, err := readLine(br, 64)
	if err != nil {
		return Model{}, fmt.Errorf("%w: %v", ErrNotModel, err)
	}
	name, ver, ok := strings.Cut(header, " ")
	if !ok || name != Format {
		return Model{}, ErrNotModel
	}
	v, err := strconv.Atoi(ver)
	if err != nil {
		return Model{}, fmt.Errorf("%w: version %q", ErrNotModel, ver)
	}
	if v != Version {
		return Model{}, fmt.Errorf("%w: file is version %d, this build reads version %d", ErrVersion, v, Version)
	}
	line, err := readLine(br, maxMetadata)
	if err != nil {
		return Model{}, fmt.Errorf("%w: metadata: %v", ErrCorrupt, err)
	}
	var meta Metadata
	if err := json.Unmarshal([]byte(line), &meta); err != nil {
		return Model{}, fmt.Errorf("%w: metadata: %v", ErrCorrupt, err)
	}
	if meta.BodySize < 0 || meta.BodySize > 1<<30 {
		return Model{}, fmt.Errorf("%w: body size %d", ErrCorrupt, meta.BodySize)
	}
	body := make([]byte, meta.BodySize)
	if _, err := io.ReadFull(br, body); err != nil {
		return Model{}, fmt.Errorf("%w: body: %v", ErrCorrupt, err)
	}
	if sum := sha256.Sum256(body); hex.EncodeToString(sum[:]) != meta.BodySHA256 {
		return Model{}, fmt.Errorf("%w: body checksum mismatch", ErrCorrupt)
	}
	if n, _ := br.Read(make([]byte, 1)); n > 0 {
		return Model{}, fmt.Errorf("%w: bytes after the body", ErrCorrupt)
	}
	var s Scorer
	switch meta.Kind {
	case KindIsolationForest:
		f := new(iforest.Forest)
		err, s = f.UnmarshalBinary(body), f
	case KindGBDT:
		g := new(gbdt.Model)
		err, s = g.UnmarshalBinary(body), g
	default:
		decode, ok := registered(meta.Kind)
		if !ok {
			return Model{}, unknownKindError(meta.Kind)
		}
		s, err = decodeRegistered(decode, body)
	}
	if err != nil {
		return Model{}, fmt.Errorf("%w: %v", ErrCorrupt, err)
	}
	if len(meta.FeatureNames) != s.NumFeatures() {
		return Model{}, fmt.Errorf("%w: %d feature names for a model of %d features", ErrCorrupt, len(meta.FeatureNames), s.NumFeatures())
	}
	return Model{Meta: meta, Scorer: s}, nil
}

// readLine reads up to limit bytes through the next newline.
func readLine(br *bufio.Reader, limit int) (string, error) {
	var sb strings.Builder
	for {
		frag, err := br.ReadSlice('\n')
		sb.Write(frag)
		if sb.Len() > limit {
			return "", fmt.Errorf("line longer than %d bytes", limit)
		}
		if err == nil {
			return strings.TrimSuffix(sb.String(), "\n"), nil
		}
		if !errors.Is(err, bufio.ErrBufferFull) {
			if errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF
			}
			return "", err
		}
	}
}

// DataHash is the SHA-256 of training data in a canonical form independent
// of where it came from: the feature names, then every value as IEEE-754
// little-endian bits row by row, then the labels (nil for unsupervised
// data). Equal data gives equal hashes across machines.
func DataHash(featureNames []string, X [][]float64, y []bool) string {
	h := sha256.New()
	fmt.Fprintf(h, "smartmaint-data 1\n%d\n", len(featureNames))
	for _, n := range featureNames {
		fmt.Fprintf(h, "%q\n", n)
	}
	var b [8]byte
	for _, row := range X {
		binary.LittleEndian.PutUint64(b[:], uint64(len(row)))
		h.Write(b[:])
		for _, v := range row {
			binary.LittleEndian.PutUint64(b[:], math.Float64bits(v))
			h.Write(b[:])
		}
	}
	if y != nil {
		lab := make([]byte, len(y))
		for i, v := range y {
			if v {
				lab[i] = 1
			}
		}
		h.Write([]byte("labels\n"))
		h.Write(lab)
	}
	return hex.EncodeToString(h.Sum(nil))
}
