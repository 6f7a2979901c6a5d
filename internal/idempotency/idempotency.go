// Package idempotency remembers the responses of requests sent with an
// Idempotency-Key header, in Redis, so that a client retrying after a lost
// answer gets the first answer again instead of doing the work twice.
//
// A key is scoped to tenant, method, path and the key itself. The first
// request claims it with a short lock (SET NX semantics, in one Lua call);
// a concurrent duplicate sees the lock and is told to retry later. When the
// first request finishes, its response replaces the lock for TTL (10 minutes
// by default) — only 2xx and 4xx responses no larger than MaxBodyBytes: a
// 5xx means nothing was done, so the key is released and a retry does the
// work. A later request with the same key but a different body is refused.
package idempotency

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// Errors from Begin.
var (
	// ErrInProgress: the first request with this key has not finished.
	ErrInProgress = errors.New("idempotency: a request with this key is still in progress")
	// ErrKeyReused: the key was used before with a different body.
	ErrKeyReused = errors.New("idempotency: key already used with a different request body")
)

// MaxKeyLength is the longest Idempotency-Key accepted.
const MaxKeyLength = 255

// ParseKey checks an Idempotency-Key header value: 1 to 255 visible ASCII
// characters, optionally in double quotes (the IETF draft sends it as a
// structured-field string; most clients send it bare).
func ParseKey(header string) (string, error) {
	k := strings.TrimSpace(header)
	if len(k) >= 2 && k[0] == '"' && k[len(k)-1] == '"' {
		k = k[1 : len(k)-1]
	}
	if k == "" {
		return "", errors.New("Idempotency-Key is empty")
	}
	if len(k) > MaxKeyLength {
		return "", fmt.Errorf("Idempotency-Key is longer than %d characters", MaxKeyLength)
	}
	for i := 0; i < len(k); i++ {
		if c := k[i]; c < 0x21 || c > 0x7e || c == '"' {
			return "", errors.New("Idempotency-Key may only contain visible ASCII characters other than '\"'; a UUID is a good choice")
		}
	}
	return k, nil
}

// Scope identifies one idempotent request.
type Scope struct {
	Tenant string
	Method string
	Path   string
	Key    string
}

func (s Scope) redisKey(prefix string) string {
	h := sha256.New()
	for _, part := range []string{s.Tenant, s.Method, s.Path, s.Key} {
		h.Write([]byte(part))
		h.Write([]byte{0})
	}
	return prefix + "idem:" + hex.EncodeToString(h.Sum(nil))
}

// Fingerprint is the hash a request body is compared by.
func Fingerprint(body []byte) string {
	h := sha256.Sum256(body)
	return hex.EncodeToString(h[:])
}

// Response is a stored response.
type Response struct {
	Status int `json:"status"`
	// Header holds the replayed headers (Content-Type, Location).
	Header map[string]string `json:"header,omitempty"`
	Body   []byte            `json:"body"`
}

// ReplayedHeaders are the response headers stored and replayed.
var ReplayedHeaders = []string{"Content-Type", "Location"}

// Storable reports whether a response with status is kept for replay:
// successes and client errors are; server errors are not, since nothing
// was acknowledged and a retry should do the work.
func Storable(status int) bool {
	return status >= 200 && status < 300 || status >= 400 && status < 500
}

// record is what Redis holds under a key.
type record struct {
	// Lock is set while the first request runs; a random token so only
	// its owner may finish or release it.
	Lock        string    `json:"lock,omitempty"`
	Fingerprint string    `json:"fp"`
	Response    *Response `json:"response,omitempty"`
	StoredAt    time.Time `json:"stored_at,omitzero"`
}

// Options configure a Store.
type Options struct {
	// Prefix is put before every Redis key (tests use their own).
	Prefix string
	// TTL is how long a response is replayed (default 10 minutes).
	TTL time.Duration
	// LockTTL bounds how long a claim lasts when its owner dies before
	// finishing (default 30 seconds).
	LockTTL time.Duration
	// MaxBodyBytes is the largest response body stored (default 1 MiB);
	// larger responses release the key.
	MaxBodyBytes int
}

// Store keeps claims and responses in Redis.
type Store struct {
	rdb redis.UniversalClient
	o   Options
}

// New returns a Store on rdb.
func New(rdb redis.UniversalClient, o Options) *Store {
	if o.TTL <= 0 {
		o.TTL = 10 * time.Minute
	}
	if o.LockTTL <= 0 {
		o.LockTTL = 30 * time.Second
	}
	if o.MaxBodyBytes <= 0 {
		o.MaxBodyBytes = 1 << 20
	}
	return &Store{rdb: rdb, o: o}
}

// MaxBodyBytes is the largest response body the store keeps.
func (s *Store) MaxBodyBytes() int { return s.o.MaxBodyBytes }

// TTL is how long responses are replayed.
func (s *Store) TTL() time.Duration { return s.o.TTL }

// claimScript returns the stored record, or claims the key with ARGV[1]
// for ARGV[2] milliseconds and returns false.
var claimScript = redis.NewScript(`
local v = redis.call('GET', KEYS[1])
if v then return v end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return false
`)

// ownerScript replaces (ARGV[2] set) or deletes the key only while it still
// holds the claim ARGV[1].
var ownerScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
if ARGV[2] == '' then
  redis.call('DEL', KEYS[1])
else
  redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
end
return 1
`)

// Begin claims scope for a request whose body has fingerprint fp. It
// returns either a Claim (go ahead, then Finish it) or the stored response
// to replay, or ErrInProgress, ErrKeyReused, or a Redis error.
func (s *Store) Begin(ctx context.Context, scope Scope, fp string) (*Claim, *Response, error) {
	token := make([]byte, 16)
	rand.Read(token)
	lock, err := json.Marshal(record{Lock: hex.EncodeToString(token), Fingerprint: fp})
	if err != nil {
		return nil, nil, err
	}
	key := scope.redisKey(s.o.Prefix)
	v, err := claimScript.Run(ctx, s.rdb, []string{key}, lock, s.o.LockTTL.Milliseconds()).Text()
	if errors.Is(err, redis.Nil) {
		return &Claim{s: s, key: key, lock: string(lock)}, nil, nil
	}
	if err != nil {
		return nil, nil, fmt.Errorf("idempotency: claim: %w", err)
	}
	var rec record
	if err := json.Unmarshal([]byte(v), &rec); err != nil {
		return nil, nil, fmt.Errorf("idempotency: stored record: %w", err)
	}
	switch {
	case rec.Fingerprint != fp:
		return nil, nil, ErrKeyReused
	case rec.Response == nil:
		return nil, nil, ErrInProgress
	}
	return nil, rec.Response, nil
}

// Claim is the right to run a request and store its response.
type Claim struct {
	s    *Store
	key  string
	lock string
}

// Finish stores resp for replay when it is Storable and small enough, and
// otherwise releases the key so the request can be retried.
func (c *Claim) Finish(ctx context.Context, resp Response) error {
	if !Storable(resp.Status) || len(resp.Body) > c.s.o.MaxBodyBytes {
		return c.Release(ctx)
	}
	var rec record
	if err := json.Unmarshal([]byte(c.lock), &rec); err != nil {
		return err
	}
	rec.Lock, rec.Response, rec.StoredAt = "", &resp, time.Now().UTC()
	v, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	return c.run(ctx, string(v))
}

// Release gives the key up without storing anything.
func (c *Claim) Release(ctx context.Context) error { return c.run(ctx, "") }

func (c *Claim) run(ctx context.Context, value string) error {
	owned, err := ownerScript.Run(ctx, c.s.rdb, []string{c.key}, c.lock, value, c.s.o.TTL.Milliseconds()).Int()
	if err != nil {
		return fmt.Errorf("idempotency: finish: %w", err)
	}
	if owned == 0 {
		return errors.New("idempotency: the claim expired before the request finished; its response was not stored")
	}
	return nil
}
