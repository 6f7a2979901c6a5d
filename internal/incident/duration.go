package incident

import (
	"encoding/json"
	"fmt"
	"time"
)

// Duration is a time.Duration that travels as text, such as "2h0m0s", in
// every incident body: the API's responses, the workflow's state and
// payloads, and the projection's summary. It also reads the integer
// nanoseconds that earlier versions wrote, so recorded histories and stored
// summaries still decode.
type Duration time.Duration

// String is the duration as time.Duration formats it.
func (d Duration) String() string { return time.Duration(d).String() }

// MarshalJSON writes the duration as text.
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(d.String()) }

// UnmarshalJSON reads text such as "90m" or integer nanoseconds.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err == nil {
		v, err := time.ParseDuration(s)
		if err != nil {
			return fmt.Errorf("incident: duration %q: %w", s, err)
		}
		*d = Duration(v)
		return nil
	}
	var n int64
	if err := json.Unmarshal(b, &n); err != nil {
		return fmt.Errorf("incident: a duration is text such as \"2h\": %s", b)
	}
	*d = Duration(n)
	return nil
}
