package modelfile

import (
	"fmt"
	"sort"
	"sync"
)

// Encoder is a model of a kind registered with Register. Write stores
// MarshalBinary's bytes as the body under ModelKind, and Read hands them
// back to the kind's registered decoder.
//
// When an Encoder also has a method ModelParams() any, Write records its
// result as the metadata's Params; otherwise the caller's Params are kept.
type Encoder interface {
	Scorer
	ModelKind() string
	MarshalBinary() ([]byte, error)
}

// paramser is the optional method an Encoder may have to report its
// training parameters.
type paramser interface {
	ModelParams() any
}

var (
	kindsMu sync.RWMutex
	kinds   = make(map[string]func(body []byte) (Scorer, error))
)

// Register makes a model kind readable by Read and Unmarshal: decode turns
// a body written by the kind's Encoder back into a Scorer. It is meant to
// be called from the init function of the package that provides the model,
// in the manner of image.RegisterFormat and database/sql.Register.
//
// Register panics if kind is empty, is a kind this package carries itself
// or is already registered, or if decode is nil.
func Register(kind string, decode func(body []byte) (Scorer, error)) {
	if kind == "" {
		panic("modelfile: Register with an empty kind")
	}
	if decode == nil {
		panic("modelfile: Register of kind " + kind + " with a nil decoder")
	}
	if kind == KindIsolationForest || kind == KindGBDT {
		panic("modelfile: Register of built-in kind " + kind)
	}
	kindsMu.Lock()
	defer kindsMu.Unlock()
	if _, dup := kinds[kind]; dup {
		panic("modelfile: Register called twice for kind " + kind)
	}
	kinds[kind] = decode
}

// Kinds returns the registered model kinds, sorted, without the built-in
// ones.
func Kinds() []string {
	kindsMu.RLock()
	defer kindsMu.RUnlock()
	out := make([]string, 0, len(kinds))
	for k := range kinds {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// KnownKinds returns every kind Read decodes in this program, sorted: the
// built-in ones and the registered ones.
func KnownKinds() []string {
	out := append(Kinds(), KindGBDT, KindIsolationForest)
	sort.Strings(out)
	return out
}

// registered returns the decoder of a registered kind.
func registered(kind string) (func(body []byte) (Scorer, error), bool) {
	kindsMu.RLock()
	defer kindsMu.RUnlock()
	d, ok := kinds[kind]
	return d, ok
}

// decodeRegistered decodes body with the decoder registered for kind,
// turning a decoder's panic into an error so that a damaged file cannot
// crash the reader.
func decodeRegistered(decode func(body []byte) (Scorer, error), body []byte) (s Scorer, err error) {
	defer func() {
		if r := recover(); r != nil {
			s, err = nil, fmt.Errorf("decoder panicked: %v", r)
		}
	}()
	s, err = decode(body)
	if err == nil && s == nil {
		err = fmt.Errorf("decoder returned no model")
	}
	return s, err
}
