package api

import (
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strconv"

	"github.com/smartmaint/smartmaint/internal/requestid"
	"github.com/smartmaint/smartmaint/internal/store"
)

// Error is the body of every error response:
// {"error":{"code":"...","message":"...","details":...,"request_id":"..."}}.
type Error struct {
	Code      string `json:"code"`
	Message   string `json:"message"`
	Details   any    `json:"details,omitempty"`
	RequestID string `json:"request_id,omitempty"`
}

// WriteJSON writes v as the JSON response body with status.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	if err := json.NewEncoder(w).Encode(v); err != nil {
		slog.Debug("write response", "error", err)
	}
}

// WriteError writes an error response.
func WriteError(w http.ResponseWriter, r *http.Request, status int, code, message string, details any) {
	WriteJSON(w, status, map[string]Error{"error": {
		Code:      code,
		Message:   message,
		Details:   details,
		RequestID: requestid.FromContext(r.Context()),
	}})
}

// WriteUnavailable answers 503 with Retry-After.
func WriteUnavailable(w http.ResponseWriter, r *http.Request, retryAfterSeconds int, message string) {
	w.Header().Set("Retry-After", strconv.Itoa(retryAfterSeconds))
	WriteError(w, r, http.StatusServiceUnavailable, "unavailable", message, nil)
}

// WriteStoreError maps repository errors to responses: not found → 404,
// conflict → 409, invalid → 422, anything else → 500 (logged).
func WriteStoreError(w http.ResponseWriter, r *http.Request, err error) {
	switch {
	case errors.Is(err, store.ErrNotFound):
		WriteError(w, r, http.StatusNotFound, "not_found", err.Error(), nil)
	case errors.Is(err, store.ErrConflict):
		WriteError(w, r, http.StatusConflict, "conflict", err.Error(), nil)
	case errors.Is(err, store.ErrInvalid):
		WriteError(w, r, http.StatusUnprocessableEntity, "invalid", err.Error(), nil)
	default:
		WriteInternal(w, r, err)
	}
}

// WriteInternal logs err and answers 500 without leaking its text.
func WriteInternal(w http.ResponseWriter, r *http.Request, err error) {
	slog.ErrorContext(r.Context(), "request failed", "method", r.Method, "path", r.URL.Path, "error", err)
	WriteError(w, r, http.StatusInternalServerError, "internal", "internal error; quote the request id when reporting it", nil)
}

// DecodeJSON decodes a request body strictly: unknown fields, trailing data
// and bodies over the server's limit are errors answered here. It reports
// whether decoding succeeded.
func DecodeJSON(w http.ResponseWriter, r *http.Request, v any) bool {
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	err := dec.Decode(v)
	if err == nil {
		// Only whitespace may follow (dec.More misses a stray '}' or ']').
		var maxErr *http.MaxBytesError
		switch _, tokErr := dec.Token(); {
		case errors.As(tokErr, &maxErr):
			err = tokErr
		case !errors.Is(tokErr, io.EOF):
			err = errors.New("unexpected data after the JSON value")
		}
	}
	if err == nil {
		return true
	}
	var maxErr *http.MaxBytesError
	if errors.As(err, &maxErr) {
		WriteError(w, r, http.StatusRequestEntityTooLarge, "body_too_large", err.Error(), map[string]int64{"limit_bytes": maxErr.Limit})
		return false
	}
	WriteError(w, r, http.StatusBadRequest, "malformed_body", "request body is not valid JSON for this endpoint: "+err.Error(), nil)
	return false
}
