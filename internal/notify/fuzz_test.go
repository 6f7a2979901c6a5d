package notify

import (
	"errors"
	"strconv"
	"testing"
	"time"
)

// FuzzVerify checks the webhook signature verifier receivers run on
// untrusted requests: no panics, and nothing verifies unless it carries
// the right signature of the right timestamp and body.
func FuzzVerify(f *testing.F) {
	now := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	ts := strconv.FormatInt(now.Unix(), 10)
	secret := []byte("s3cret")
	f.Add(ts, Sign(secret, ts, []byte(`{"a":1}`)), []byte(`{"a":1}`))
	f.Add(ts, "sha256=00", []byte(`{}`))
	f.Add("-9223372036854775808", "sha256=", []byte{})
	f.Add("1e9", "", []byte("x"))
	f.Fuzz(func(t *testing.T, timestamp, signature string, body []byte) {
		err := Verify(secret, timestamp, signature, body, now, DefaultTolerance)
		if err == nil && signature != Sign(secret, timestamp, body) {
			t.Fatalf("Verify accepted signature %q of %q/%q", signature, timestamp, body)
		}
		if err != nil && !errors.Is(err, ErrNoSignature) && !errors.Is(err, ErrBadSignature) && !errors.Is(err, ErrStale) {
			t.Fatalf("Verify error %v is none of the documented ones", err)
		}
		// The right signature verifies whenever the timestamp is fresh.
		if sec, perr := strconv.ParseInt(timestamp, 10, 64); perr == nil && sec >= now.Unix()-60 && sec <= now.Unix()+60 {
			if err := Verify(secret, timestamp, Sign(secret, timestamp, body), body, now, DefaultTolerance); err != nil {
				t.Fatalf("a correct signature of %q failed: %v", timestamp, err)
			}
		}
	})
}
