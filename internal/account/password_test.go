package account_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/smartmaint/smartmaint/internal/account"
)

// fast are cheap parameters for tests that hash many times.
var fast = account.Params{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}

func TestHashVerify(t *testing.T) {
	h := account.Hash("correct horse battery staple", account.DefaultParams)
	if !strings.HasPrefix(h, "$argon2id$v=19$m=19456,t=2,p=1$") {
		t.Fatalf("hash %q does not carry the OWASP parameters", h)
	}
	if h2 := account.Hash("correct horse battery staple", account.DefaultParams); h2 == h {
		t.Error("two hashes of one password are equal: the salt is not random")
	}
	parts := strings.Split(h, "$")
	flip := func(s string) string {
		b := []byte(s)
		if b[0] == 'A' {
			b[0] = 'B'
		} else {
			b[0] = 'A'
		}
		return string(b)
	}
	tamperedHash := strings.Join(append(parts[:5:5], flip(parts[5])), "$")
	tamperedSalt := strings.Join(append(parts[:4:4], flip(parts[4]), parts[5]), "$")
	tests := []struct {
		name, password, hash string
		ok                   bool
		err                  error
	}{
		{"right password", "correct horse battery staple", h, true, nil},
		{"wrong password", "correct horse battery stapler", h, false, nil},
		{"empty password", "", h, false, nil},
		{"tampered hash", "correct horse battery staple", tamperedHash, false, nil},
		{"tampered salt", "correct horse battery staple", tamperedSalt, false, nil},
		{"other parameters", "correct horse battery staple", strings.Replace(h, "t=2", "t=3", 1), false, nil},
		{"bcrypt", "x", "$2a$10$N9qo8uLOickgx2ZMRZoMyeIjZAgcfl7p92ldGxad68LJZdL17lhWy", false, account.ErrMalformedHash},
		{"argon2i", "x", strings.Replace(h, "argon2id", "argon2i", 1), false, account.ErrMalformedHash},
		{"old version", "x", strings.Replace(h, "v=19", "v=16", 1), false, account.ErrMalformedHash},
		{"huge memory", "x", strings.Replace(h, "m=19456", "m=99999999", 1), false, account.ErrMalformedHash},
		{"zero time", "x", strings.Replace(h, "t=2", "t=0", 1), false, account.ErrMalformedHash},
		{"trailing junk in parameters", "x", strings.Replace(h, "p=1", "p=1x", 1), false, account.ErrMalformedHash},
		{"salt not base64", "x", strings.Join(append(parts[:4:4], "!!!!", parts[5]), "$"), false, account.ErrMalformedHash},
		{"short key", "x", strings.Join(append(parts[:5:5], "AAAA"), "$"), false, account.ErrMalformedHash},
		{"empty", "x", "", false, account.ErrMalformedHash},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ok, err := account.Verify(tt.password, tt.hash)
			if ok != tt.ok || !errors.Is(err, tt.err) {
				t.Errorf("Verify = %v, %v; want %v, %v", ok, err, tt.ok, tt.err)
			}
		})
	}
}

func TestParseHash(t *testing.T) {
	h := account.Hash("x", fast)
	p, salt, key, err := account.ParseHash(h)
	if err != nil {
		t.Fatal(err)
	}
	if p != fast || len(salt) != 16 || len(key) != 32 {
		t.Errorf("ParseHash = %+v, %d-byte salt, %d-byte key; want %+v", p, len(salt), len(key), fast)
	}
}

func TestCheckPassword(t *testing.T) {
	tests := []struct {
		password, email string
		want            string // "" for accepted, else a fragment of the message
	}{
		{"correct horse battery staple", "ada@example.com", ""},
		{"Zürich-Fahrräder-7", "ada@example.com", ""},
		{"short", "", "at least 12 characters long (it has 5)"},
		{"ääääääääääa", "", "at least 12"}, // 11 runes, 22 bytes
		{strings.Repeat("x", 257), "", "at most 256"},
		{"Ada.Lovelace@Example.com", "ada.lovelace@example.com", "must not be the email"},
		{"1234567890123", "", "digits and symbols only"},
		{"password1234!", "", "most common passwords"},
		{"SUNSHINE2024!!", "", "most common passwords"},
		{"qwertyuiop123", "", "most common passwords"},
		{"\xff\xfe invalid utf-8 bytes", "", "not valid UTF-8"},
	}
	for _, tt := range tests {
		err := account.CheckPassword(tt.password, tt.email)
		switch {
		case tt.want == "" && err != nil:
			t.Errorf("CheckPassword(%q) = %v, want accepted", tt.password, err)
		case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want) || !errors.Is(err, account.ErrWeakPassword)):
			t.Errorf("CheckPassword(%q) = %v, want an ErrWeakPassword saying %q", tt.password, err, tt.want)
		}
	}
}

// BenchmarkVerify is one sign-in's password check at DefaultParams.
func BenchmarkVerify(b *testing.B) {
	h := account.Hash("correct horse battery staple", account.DefaultParams)
	for b.Loop() {
		if ok, _ := account.Verify("correct horse battery staple", h); !ok {
			b.Fatal("verify failed")
		}
	}
}
