package apikey

import (
	"strings"
	"testing"
)

func TestGenerateParse(t *testing.T) {
	key, prefix, hash := Generate()
	p, secret, err := Parse(key)
	if err != nil || p != prefix || !Matches(secret, hash) || Matches(secret+"x", hash) {
		t.Fatalf("Generate → %q %q; Parse → %q %q %v", key, prefix, p, secret, err)
	}
	for _, bad := range []string{"", "sm_", "sm_short_0123456789abcdef", "xx_abcdefgh_0123456789abcdef", "sm_abcdefgh0123456789abcdef", "sm_abcdefgh_" + strings.Repeat("s", 129)} {
		if _, _, err := Parse(bad); err == nil {
			t.Errorf("Parse(%q) accepted", bad)
		}
	}
}

func TestScopes(t *testing.T) {
	got, err := ParseScopes([]string{"readings:read", " readings:write ", "readings:read"})
	if err != nil || len(got) != 2 {
		t.Fatalf("ParseScopes = %v, %v", got, err)
	}
	if _, err := ParseScopes([]string{"readings:delete"}); err == nil {
		t.Error("unknown scope accepted")
	}
	if !Has([]Scope{Admin}, ModelsWrite) || Has([]Scope{ReadingsRead}, ReadingsWrite) {
		t.Error("Has: admin implies every scope, nothing else does")
	}
}

// FuzzParse checks the parser every request's X-API-Key goes through: no
// panics, and what it accepts splits the key exactly.
func FuzzParse(f *testing.F) {
	key, _, _ := Generate()
	for _, s := range []string{key, "sm_devlocal_0123456789abcdef0123456789abcdef", "sm__", "sm_abcdefgh_", "sm_abcdefgh_0123456789abcdef_x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		prefix, secret, err := Parse(s)
		if err != nil {
			return
		}
		if len(prefix) != prefixLen || len(secret) < 16 || len(secret) > 128 || "sm_"+prefix+"_"+secret != s {
			t.Fatalf("Parse(%q) = %q, %q", s, prefix, secret)
		}
	})
}
