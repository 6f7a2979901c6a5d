package maintenance

import (
	"strings"
	"testing"
	"time"
)

func TestPreventiveDue(t *testing.T) {
	now := time.Date(2030, 6, 3, 7, 0, 0, 0, time.UTC)
	days := 30
	every, next := 500.0, 1700.0
	calendar := func(due time.Time) PreventiveSchedule {
		return PreventiveSchedule{Kind: PreventiveCalendar, IntervalDays: &days, NextDueAt: &due, CreatedAt: due.AddDate(0, 0, -30)}
	}
	meter := PreventiveSchedule{Kind: PreventiveMeter, SensorID: "hours", MeterInterval: &every, NextDueReading: &next}
	last := 1200.0
	serviced := meter
	serviced.LastMeterReading = &last
	tests := []struct {
		name     string
		p        PreventiveSchedule
		meter    *MeterReading
		lead     time.Duration
		deadline time.Time // zero: not due
		reason   string
	}{
		{"calendar overdue", calendar(now.Add(-time.Hour)), nil, 0, now.Add(-time.Hour), "every 30 days, created 2030-05-04"},
		{"calendar due exactly now", calendar(now), nil, 0, now, "due 2030-06-03"},
		{"calendar within lead", calendar(now.Add(48 * time.Hour)), nil, 72 * time.Hour, now.Add(48 * time.Hour), "due 2030-06-05"},
		{"calendar beyond lead", calendar(now.Add(96 * time.Hour)), nil, 72 * time.Hour, time.Time{}, ""},
		{"meter without readings", meter, nil, 72 * time.Hour, time.Time{}, ""},
		{"meter reached, rate known: when it crossed", meter, &MeterReading{Value: 1710, At: now, Unit: "h", PerHour: 2}, 0, now.Add(-5 * time.Hour), "due at 1700 h, reached, advancing 48 h a day"},
		{"meter reached, rate unknown", meter, &MeterReading{Value: 1700, At: now.Add(-time.Minute)}, 0, now.Add(-time.Minute), "reached"},
		{"meter expected within lead", meter, &MeterReading{Value: 1600, At: now, PerHour: 2}, 72 * time.Hour, now.Add(50 * time.Hour), "expected 2030-06-05T09:00:00Z"},
		{"meter expected beyond lead", meter, &MeterReading{Value: 1600, At: now, PerHour: 1}, 72 * time.Hour, time.Time{}, ""},
		{"meter not rising", meter, &MeterReading{Value: 1699, At: now}, 72 * time.Hour, time.Time{}, ""},
		{"meter reset since the service, not yet due from 0", serviced, &MeterReading{Value: 300, At: now}, 0, time.Time{}, ""},
		{"meter reset since the service, due from 0", serviced, &MeterReading{Value: 520, At: now}, 0, now, "counted from 0 as a reset meter"},
		{"meter crawling: no overflow", meter, &MeterReading{Value: 0, At: now, PerHour: 1e-300}, 72 * time.Hour, time.Time{}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			deadline, reason, due := preventiveDue(tt.p, tt.meter, now, tt.lead)
			if tt.deadline.IsZero() {
				if due {
					t.Fatalf("due %s (%s), want not due", deadline, reason)
				}
				return
			}
			if !due || !deadline.Equal(tt.deadline) || !strings.Contains(reason, tt.reason) {
				t.Errorf("= %s, %q, due %v; want %s and a reason with %q", deadline, reason, due, tt.deadline, tt.reason)
			}
		})
	}
}
