package account

import (
	_ "embed"
	"errors"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Password length limits, in runes. The upper bound keeps a verify's cost
// independent of what a client sends.
const (
	MinPasswordLen = 12
	MaxPasswordLen = 256
)

// ErrWeakPassword wraps every reason CheckPassword refuses a password.
var ErrWeakPassword = errors.New("password refused")

// commonPasswords is the top 100 of SecLists'
// Passwords/Common-Credentials/10-million-password-list-top-100.txt
// (github.com/danielmiessler/SecLists, MIT licence), one a line.
//
//go:embed common-passwords.txt
var commonPasswordsText string

var commonPasswords = func() map[string]bool {
	m := map[string]bool{}
	for _, line := range strings.Fields(commonPasswordsText) {
		m[strings.ToLower(line)] = true
	}
	return m
}()

// CheckPassword says why password may not be the password of the user with
// email, or returns nil. The rules: 12 to 256 characters (runes), not the
// email address (in any case), and not one of the 100 most common
// passwords — also not one followed only by digits or symbols (such as
// "password1234!"), nor digits and symbols only. Every error wraps ErrWeakPassword and its text is fit to
// show the user.
func CheckPassword(password, email string) error {
	if !utf8.ValidString(password) {
		return fmt.Errorf("%w: it is not valid UTF-8", ErrWeakPassword)
	}
	switch n := utf8.RuneCountInString(password); {
	case n < MinPasswordLen:
		return fmt.Errorf("%w: it must be at least %d characters long (it has %d)", ErrWeakPassword, MinPasswordLen, n)
	case n > MaxPasswordLen:
		return fmt.Errorf("%w: it must be at most %d characters long (it has %d)", ErrWeakPassword, MaxPasswordLen, n)
	}
	lower := strings.ToLower(password)
	if email != "" && strings.EqualFold(strings.TrimSpace(password), strings.TrimSpace(email)) {
		return fmt.Errorf("%w: it must not be the email address", ErrWeakPassword)
	}
	stem := strings.TrimRightFunc(lower, func(r rune) bool { return unicode.IsDigit(r) || unicode.IsPunct(r) || unicode.IsSymbol(r) })
	if stem == "" {
		return fmt.Errorf("%w: it must not be made of digits and symbols only; choose a longer phrase of unrelated words", ErrWeakPassword)
	}
	if commonPasswords[lower] || commonPasswords[stem] {
		return fmt.Errorf("%w: it is one of the most common passwords, or one with digits or symbols added; choose a longer phrase of unrelated words", ErrWeakPassword)
	}
	return nil
}
