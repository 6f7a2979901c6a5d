package activities

import (
	"testing"
	"time"

	"github.com/smartmaint/smartmaint/internal/anomaly"
)

// TestDeadlineLeavesTheRepair: whatever the severity and the time to the
// limit, the deadline is at least the repair's duration away, so the work
// order is not late from the moment it is created.
func TestDeadlineLeavesTheRepair(t *testing.T) {
	now := time.Date(2026, 12, 4, 10, 0, 0, 0, time.UTC)
	for _, sev := range []anomaly.Severity{anomaly.Critical, anomaly.Major, anomaly.Minor, anomaly.Warning, ""} {
		for _, ttl := range []time.Duration{-1, 0, time.Minute, 30 * time.Minute, 3 * time.Hour, 30 * 24 * time.Hour} {
			for _, repair := range []time.Duration{30 * time.Minute, 2 * time.Hour, 9 * time.Hour} {
				priority, due := deadline(sev, ttl, repair, now)
				if due.Before(now.Add(repair)) {
					t.Errorf("severity %q, time to limit %s, repair %s: priority %s due in %s", sev, ttl, repair, priority, due.Sub(now))
				}
			}
		}
	}
}
