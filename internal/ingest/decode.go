package ingest

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"strings"
	"sync"
)

// Input is one reading as a client sends it.
type Input struct {
	AssetID  string   `json:"asset_id"`
	SensorID string   `json:"sensor_id"`
	TS       string   `json:"ts"`
	Value    *float64 `json:"value"`
	// Unit, when given, must match the sensor's unit.
	Unit string `json:"unit,omitempty"`
}

// DecodeError describes a body that is not well-formed.
type DecodeError struct {
	// Index is the reading the error is in (-1 when before the first).
	Index   int
	Message string
	// Err is the underlying reader error, if any (say *http.MaxBytesError).
	Err error
}

func (e *DecodeError) Unwrap() error { return e.Err }

func (e *DecodeError) Error() string {
	if e.Index < 0 {
		return e.Message
	}
	return fmt.Sprintf("reading %d: %s", e.Index, e.Message)
}

// TooManyError reports a request over the per-request limit.
type TooManyError struct{ Limit int }

func (e *TooManyError) Error() string {
	return fmt.Sprintf("more than %d readings in one request", e.Limit)
}

// Format is the wire format of a readings body.
type Format int

// The formats Decode accepts.
const (
	JSON   Format = iota // one object or an array of objects
	NDJSON               // one object per line
)

// readers recycles the 4 KiB buffers bodies are read through: at ten
// thousand requests a second they were most of the garbage.
var readers = sync.Pool{New: func() any { return bufio.NewReader(nil) }}

// FormatOf maps a Content-Type to a Format; ok is false for unsupported types.
func FormatOf(contentType string) (f Format, ok bool) {
	if contentType == "" {
		return JSON, true
	}
	mt, _, err := mime.ParseMediaType(contentType)
	if err != nil {
		return 0, false
	}
	switch mt {
	case "application/json":
		return JSON, true
	case "application/x-ndjson", "application/ndjson", "application/jsonl", "application/jsonlines":
		return NDJSON, true
	}
	return 0, false
}

// Decode reads at most limit readings from r. Unknown fields are rejected so
// that a misspelt field is an error, not a silently missing value.
func Decode(r io.Reader, f Format, limit int) ([]Input, error) {
	if f == NDJSON {
		return decodeNDJSON(r, limit)
	}
	br := readers.Get().(*bufio.Reader)
	br.Reset(r)
	defer func() {
		br.Reset(nil)
		readers.Put(br)
	}()
	first, err := peekNonSpace(br)
	if err != nil {
		if errors.Is(err, io.EOF) {
			return nil, &DecodeError{Index: -1, Message: "empty body"}
		}
		return nil, &DecodeError{Index: -1, Message: err.Error(), Err: err}
	}
	dec := json.NewDecoder(br)
	dec.DisallowUnknownFields()
	switch first {
	case '{':
		var in Input
		if err := dec.Decode(&in); err != nil {
			return nil, jsonError(0, err)
		}
		if err := expectEOF(dec); err != nil {
			return nil, &DecodeError{Index: -1, Message: "unexpected data after the reading; send an array for several"}
		}
		return []Input{in}, nil
	case '[':
		if _, err := dec.Token(); err != nil {
			return nil, jsonError(-1, err)
		}
		out := make([]Input, 0, 64)
		for dec.More() {
			if len(out) == limit {
				return nil, &TooManyError{Limit: limit}
			}
			out = append(out, Input{})
			if err := dec.Decode(&out[len(out)-1]); err != nil {
				return nil, jsonError(len(out)-1, err)
			}
		}
		if _, err := dec.Token(); err != nil {
			return nil, jsonError(len(out), err)
		}
		if err := expectEOF(dec); err != nil {
			return nil, &DecodeError{Index: -1, Message: "unexpected data after the array"}
		}
		if len(out) == 0 {
			return nil, &DecodeError{Index: -1, Message: "empty array"}
		}
		return out, nil
	default:
		return nil, &DecodeError{Index: -1, Message: fmt.Sprintf("body must be a JSON object or array, found %q", first)}
	}
}

func decodeNDJSON(r io.Reader, limit int) ([]Input, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64*1024), 1<<20)
	out := make([]Input, 0, 64)
	for sc.Scan() {
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 {
			continue
		}
		if len(out) == limit {
			return nil, &TooManyError{Limit: limit}
		}
		dec := json.NewDecoder(bytes.NewReader(line))
		dec.DisallowUnknownFields()
		out = append(out, Input{})
		if err := dec.Decode(&out[len(out)-1]); err != nil {
			return nil, jsonError(len(out)-1, err)
		}
		if dec.More() {
			return nil, &DecodeError{Index: len(out) - 1, Message: "more than one JSON value on the line"}
		}
	}
	if err := sc.Err(); err != nil {
		return nil, &DecodeError{Index: len(out), Message: err.Error(), Err: err}
	}
	if len(out) == 0 {
		return nil, &DecodeError{Index: -1, Message: "empty body"}
	}
	return out, nil
}

func peekNonSpace(br *bufio.Reader) (byte, error) {
	for {
		b, err := br.ReadByte()
		if err != nil {
			return 0, err
		}
		switch b {
		case ' ', '\t', '\r', '\n':
			continue
		}
		return b, br.UnreadByte()
	}
}

func expectEOF(dec *json.Decoder) error {
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return errors.New("trailing data")
	}
	return nil
}

// jsonError turns encoding/json errors into messages that name the field.
func jsonError(index int, err error) *DecodeError {
	var typeErr *json.UnmarshalTypeError
	var syntaxErr *json.SyntaxError
	switch {
	case errors.As(err, &typeErr):
		return &DecodeError{Index: index, Message: fmt.Sprintf("field %q must be a %s, not a JSON %s", typeErr.Field, kindOf(typeErr.Type.String()), typeErr.Value)}
	case errors.As(err, &syntaxErr):
		return &DecodeError{Index: index, Message: fmt.Sprintf("malformed JSON at byte %d: %s", syntaxErr.Offset, syntaxErr.Error())}
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		return &DecodeError{Index: index, Message: "body ends in the middle of a JSON value"}
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		return &DecodeError{Index: index, Message: "unknown field " + strings.TrimPrefix(err.Error(), "json: unknown field ")}
	}
	return &DecodeError{Index: index, Message: err.Error(), Err: err}
}

func kindOf(goType string) string {
	switch goType {
	case "string":
		return "string"
	case "float64", "*float64":
		return "number"
	}
	return goType
}
