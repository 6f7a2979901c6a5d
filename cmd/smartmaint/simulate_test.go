package main

import (
	"slices"
	"testing"
)

func TestParseInts(t *testing.T) {
	for _, c := range []struct {
		in   string
		want []int
		err  bool
	}{
		{"31", []int{31}, false},
		{"31, 34,68", []int{31, 34, 68}, false},
		{"31,x", nil, true},
		{"", nil, true},
	} {
		got, err := parseInts(c.in)
		if (err != nil) != c.err || !slices.Equal(got, c.want) {
			t.Errorf("parseInts(%q) = %v, %v", c.in, got, err)
		}
		if err == nil {
			if back, _ := parseInts(joinInts(got)); !slices.Equal(back, got) {
				t.Errorf("joinInts(%v) does not read back", got)
			}
		}
	}
}
