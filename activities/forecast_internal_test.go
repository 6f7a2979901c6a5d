package activities

import (
	"strings"
	"testing"
	"time"

	"github.com/smartmaint/smartmaint/internal/anomaly"
	"github.com/smartmaint/smartmaint/internal/incident"
	"github.com/smartmaint/smartmaint/internal/modelkind"
	"github.com/smartmaint/smartmaint/internal/workorder"
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

// TestFromEstimate: a model's remaining life of X with interval [a, b]
// gives deadline Y and priority P. The work is planned against the lower
// bound a: a fifth of it is kept as margin (at least an hour of lead), the
// severity's response time caps it and the repair's duration (2 h here)
// floors the deadline.
func TestFromEstimate(t *testing.T) {
	now := time.Date(2026, 12, 4, 10, 0, 0, 0, time.UTC)
	const repair = 2 * time.Hour
	for _, c := range []struct {
		name                string
		kind                modelkind.Kind
		value, lower, upper float64
		per                 time.Duration
		sev                 anomaly.Severity
		due                 time.Duration // from now
		priority            workorder.Priority
	}{
		{"one cycle a minute, 21 cycles at worst: the repair floors it", modelkind.RUL, 38.7, 21.2, 61.9, time.Minute, anomaly.Critical, 2 * time.Hour, workorder.Critical},
		{"80 hourly cycles at worst, minor", modelkind.RUL, 100, 80, 125, time.Hour, anomaly.Minor, 64 * time.Hour, workorder.Medium},
		{"the same life, critical: the response time caps it", modelkind.RUL, 100, 80, 125, time.Hour, anomaly.Critical, 4 * time.Hour, workorder.Critical},
		{"40 hourly cycles at worst, major", modelkind.RUL, 60, 40, 90, time.Hour, anomaly.Major, 24 * time.Hour, workorder.High},
		{"20 hourly cycles at worst, major", modelkind.RUL, 30, 20, 45, time.Hour, anomaly.Major, 16 * time.Hour, workorder.High},
		{"250 hourly cycles at worst, warning", modelkind.RUL, 300, 250, 400, time.Hour, anomaly.Warning, 7 * 24 * time.Hour, workorder.Low},
		{"no life left at worst", modelkind.RUL, 5, 0, 12, 10 * time.Minute, anomaly.Major, 2 * time.Hour, workorder.Critical},
		{"a bearing 20 h from failure at worst, no upper bound", modelkind.BearingHealth, 30, 20, 0, time.Hour, anomaly.Minor, 16 * time.Hour, workorder.High},
	} {
		t.Run(c.name, func(t *testing.T) {
			est := incident.Estimate{Value: c.value, Lower: c.lower, Upper: c.upper, Unit: incident.UnitCycles, Per: incident.Duration(c.per), Coverage: 0.8}
			f := fromEstimate(c.kind, "rul-turbofan", 3, est, c.sev, repair, now)
			if got := f.Deadline.Sub(now); got != c.due || f.Priority != c.priority {
				t.Errorf("deadline in %s, priority %s; want %s, %s", got, f.Priority, c.due, c.priority)
			}
			if want := time.Duration(c.lower * float64(c.per)); time.Duration(f.Earliest) != want {
				t.Errorf("earliest %s, want the lower bound's %s", f.Earliest, want)
			}
			if c.upper == 0 && f.Latest != 0 {
				t.Errorf("latest %s for an unbounded interval", f.Latest)
			}
			method := incident.ForecastRUL
			if c.kind == modelkind.BearingHealth {
				method = incident.ForecastBearingHealth
			}
			if f.Method != method || f.Model != "rul-turbofan" || f.ModelVersion != 3 || !strings.Contains(f.Detail, "rul-turbofan v3") ||
				!strings.Contains(f.Detail, "80% interval [") {
				t.Errorf("forecast %+v does not name its method, model, version and interval", f)
			}
		})
	}
}
