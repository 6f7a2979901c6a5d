package simulate

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"time"
)

// CrewSkills are the skills of the demo crew Options.Crew registers.
var CrewSkills = []string{"mechanical", "electrical", "lubrication"}

// crew registers a demo maintenance crew, two technicians who cover the day
// around the clock, and a monthly spindle lubrication schedule per machine,
// so incidents' work orders get booked and preventive work is raised. A
// tenant that has technicians already is left as it is. The lubrication of
// the first machine was last done 29½ days before now, so it falls due
// within the preventive lead time; the others follow five days apart (in
// cycles of six machines).
func (c *client) crew(ctx context.Context, assets []Asset, now time.Time) (technicians, schedules int, err error) {
	r, err := c.do(ctx, http.MethodGet, "/api/v1/technicians?limit=1", "", nil)
	if err != nil {
		return 0, 0, fmt.Errorf("list technicians: %w", err)
	}
	if r.status != http.StatusOK {
		return 0, 0, c.statusError(http.MethodGet, "/api/v1/technicians", r)
	}
	var list struct {
		Items []json.RawMessage `json:"items"`
	}
	if err := json.Unmarshal(r.body, &list); err != nil {
		return 0, 0, fmt.Errorf("list technicians: %w", err)
	}
	if len(list.Items) > 0 {
		return 0, 0, nil
	}
	week := func(from, to string) map[string]any {
		shift := [][]string{{from, to}}
		return map[string]any{"mon": shift, "tue": shift, "wed": shift, "thu": shift, "fri": shift, "sat": shift, "sun": shift}
	}
	for _, t := range []map[string]any{
		{"name": "Maria Lopez (day shift)", "skills": CrewSkills, "time_zone": "UTC", "shifts": week("06:00", "18:00")},
		{"name": "Tom Becker (night shift)", "skills": CrewSkills, "time_zone": "UTC", "shifts": week("18:00", "06:00")},
	} {
		created, err := c.create(ctx, "/api/v1/technicians", t)
		if err != nil {
			return technicians, schedules, fmt.Errorf("create technician: %w", err)
		}
		if created {
			technicians++
		}
	}
	for i, a := range assets {
		lastDone := now.Add(-(29*24 + 12) * time.Hour).Add(time.Duration(i%6) * 5 * 24 * time.Hour)
		created, err := c.create(ctx, "/api/v1/preventive-schedules", map[string]any{
			"asset_id": a.ID, "title": "Spindle lubrication", "kind": "calendar", "interval_days": 30,
			"last_done_at": lastDone.UTC().Format(time.RFC3339), "estimated_minutes": 45, "priority": "medium",
			"required_skills": []string{"lubrication"},
			"checklist":       []string{"Lock out the spindle drive", "Grease the spindle bearings", "Check the coolant level and concentration"},
			"parts":           []map[string]any{{"part_number": "GREASE-EP2", "description": "lithium grease EP2", "quantity": 0.05, "unit": "kg"}},
		})
		if err != nil {
			return technicians, schedules, fmt.Errorf("create preventive schedule for %s: %w", a.ID, err)
		}
		if created {
			schedules++
		}
	}
	return technicians, schedules, nil
}
