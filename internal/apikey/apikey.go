// Package apikey makes and checks smartmaint API keys and defines the scopes
// they carry.
//
// A key looks like sm_<prefix>_<secret>: the 8-character prefix is stored in
// clear and indexed for lookup, the secret only as a SHA-256 hash. The whole
// key is shown once, when it is created.
package apikey

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base32"
	"errors"
	"slices"
	"strings"
)

// Scope names an area of the API a key may use.
type Scope string

// The scopes. Admin implies every other scope.
const (
	ReadingsWrite   Scope = "readings:write"
	ReadingsRead    Scope = "readings:read"
	IncidentsDecide Scope = "incidents:decide"
	ModelsWrite     Scope = "models:write"
	Admin           Scope = "admin"
)

// AllScopes lists every scope in a stable order.
var AllScopes = []Scope{ReadingsWrite, ReadingsRead, IncidentsDecide, ModelsWrite, Admin}

// ErrMalformed is returned for strings that are not smartmaint keys.
var ErrMalformed = errors.New("apikey: malformed key")

const (
	keyPrefix  = "sm_"
	prefixLen  = 8
	secretLen  = 32
	randPrefix = 5  // bytes → 8 base32 characters
	randSecret = 20 // bytes → 32 base32 characters
)

var encoding = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// Generate returns a new key, its lookup prefix and the hash to store.
func Generate() (key, prefix string, hash []byte) {
	p := make([]byte, randPrefix)
	s := make([]byte, randSecret)
	rand.Read(p)
	rand.Read(s)
	prefix = encoding.EncodeToString(p)
	secret := encoding.EncodeToString(s)
	return keyPrefix + prefix + "_" + secret, prefix, Hash(secret)
}

// Parse splits a key into its lookup prefix and secret.
func Parse(key string) (prefix, secret string, err error) {
	rest, ok := strings.CutPrefix(key, keyPrefix)
	if !ok {
		return "", "", ErrMalformed
	}
	prefix, secret, ok = strings.Cut(rest, "_")
	if !ok || len(prefix) != prefixLen || len(secret) < 16 || len(secret) > 128 {
		return "", "", ErrMalformed
	}
	return prefix, secret, nil
}

// Hash is the stored form of a secret.
func Hash(secret string) []byte {
	h := sha256.Sum256([]byte(secret))
	return h[:]
}

// Matches reports in constant time whether secret hashes to stored.
func Matches(secret string, stored []byte) bool {
	return subtle.ConstantTimeCompare(Hash(secret), stored) == 1
}

// ParseScopes checks names against the known scopes.
func ParseScopes(names []string) ([]Scope, error) {
	out := make([]Scope, 0, len(names))
	for _, n := range names {
		s := Scope(strings.TrimSpace(n))
		if !slices.Contains(AllScopes, s) {
			return nil, errors.New("apikey: unknown scope " + `"` + n + `"`)
		}
		if !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out, nil
}

// Has reports whether scopes grant want; Admin grants everything.
func Has(scopes []Scope, want Scope) bool {
	return slices.Contains(scopes, want) || slices.Contains(scopes, Admin)
}
