package schedule

import (
	"encoding/json"
	"slices"
	"testing"
)

// FuzzWeek checks the decoder of technicians' shift calendars (API input):
// no panics, and a calendar that decodes and validates survives a round
// trip unchanged.
func FuzzWeek(f *testing.F) {
	for _, s := range []string{
		`{"mon":[["08:00","16:00"]],"tue":[["22:00","06:00"]]}`, `{"MON":[["00:00","24:00"]],"mon":[]}`,
		`{"sun":[["24:00","01:00"]]}`, `{"xyz":[]}`, `{"wed":[["8:00","16:00"]]}`, `{"thu":[["08:00"]]}`, `[]`, `null`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var w Week
		if json.Unmarshal(data, &w) != nil || w.Validate() != nil {
			return
		}
		for _, shifts := range w {
			for _, s := range shifts {
				if s.Start < 0 || s.Start >= 24*60 || s.End < 0 || s.End > 24*60 {
					t.Fatalf("%q: accepted shift %v", data, s)
				}
			}
		}
		out, err := json.Marshal(w)
		if err != nil {
			t.Fatal(err)
		}
		var back Week
		if err := json.Unmarshal(out, &back); err != nil {
			t.Fatalf("%q → %s does not decode: %v", data, out, err)
		}
		for d := range w {
			if !slices.Equal(w[d], back[d]) {
				t.Fatalf("%q → %s → %v, want %v", data, out, back, w)
			}
		}
	})
}

// FuzzParseClockDate checks the time-of-day and date parsers: no panics,
// and what they accept formats back to itself.
func FuzzParseClockDate(f *testing.F) {
	for _, s := range []string{"08:30", "24:00", "24:01", "-1:00", "2030-02-29", "2028-02-29", "0000-00-00", "9999-12-31", "１２:００"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if c, err := ParseClock(s); err == nil {
			if c < 0 || c > 24*60 || c.String() != s {
				t.Fatalf("ParseClock(%q) = %d (%s)", s, c, c)
			}
		}
		if d, err := ParseDate(s); err == nil {
			if back, err := ParseDate(d.String()); err != nil || back != d {
				t.Fatalf("ParseDate(%q) = %v; its String %q parses to %v, %v", s, d, d.String(), back, err)
			}
		}
	})
}
