package simulate

import (
	"testing"
	"time"
)

func TestPacer(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	type call struct {
		at              time.Duration // since start
		wantN, wantSkip int
		wantWait        time.Duration
	}
	tests := []struct {
		name   string
		tick   time.Duration
		maxLag int
		calls  []call
	}{
		{"first step at start", time.Second, 5, []call{
			{0, 1, 0, time.Second},
			{500 * time.Millisecond, 0, 0, 500 * time.Millisecond},
			{time.Second, 1, 0, time.Second},
		}},
		{"before start", time.Second, 5, []call{
			{-time.Millisecond, 0, 0, time.Millisecond},
		}},
		{"late wake-up catches up", 100 * time.Millisecond, 10, []call{
			{0, 1, 0, 100 * time.Millisecond},
			{350 * time.Millisecond, 3, 0, 50 * time.Millisecond},
			{400 * time.Millisecond, 1, 0, 100 * time.Millisecond},
		}},
		{"far behind skips", 10 * time.Millisecond, 5, []call{
			{0, 1, 0, 10 * time.Millisecond},
			{time.Second, 5, 95, 10 * time.Millisecond},
			{time.Second + 10*time.Millisecond, 1, 0, 10 * time.Millisecond},
		}},
		{"repeated call takes nothing twice", time.Second, 5, []call{
			{2 * time.Second, 3, 0, time.Second},
			{2 * time.Second, 0, 0, time.Second},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := &pacer{start: t0, tick: tt.tick, maxLag: tt.maxLag}
			for i, c := range tt.calls {
				now := t0.Add(c.at)
				n, skip := p.due(now)
				if n != c.wantN || skip != c.wantSkip {
					t.Errorf("call %d at %s: due = %d, skipped %d; want %d, %d", i, c.at, n, skip, c.wantN, c.wantSkip)
				}
				if w := p.wait(now); w != c.wantWait {
					t.Errorf("call %d at %s: wait = %s, want %s", i, c.at, w, c.wantWait)
				}
			}
		})
	}
}
