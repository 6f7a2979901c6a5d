package api_test

import (
	"testing"
	"time"
)

// TestSensorUnitCannotChangeUnderReadings: a sensor's unit may change while
// it has no readings; once it has some, PUT with another unit answers 409
// unit_in_use and changes nothing, while the other fields still change.
func TestSensorUnitCannotChangeUnderReadings(t *testing.T) {
	s := newServer(t)
	s.seedMill(t)
	const path = "/api/v1/assets/mill-1/sensors/torque"
	put := func(body string) (int, map[string]any) {
		t.Helper()
		code, out, _ := s.do(t, "admin", "PUT", path, "application/json", body)
		return code, out
	}

	// No readings yet: the unit is free to change (and back).
	if code, out := put(`{"unit":"kNm","min_valid":0,"max_valid":0.2}`); code != 200 || out["unit"] != "kNm" {
		t.Fatalf("unit change without readings: %d %v", code, out)
	}
	if code, out := put(`{"unit":"Nm","min_valid":0,"max_valid":200,"warn_high":60,"alarm_high":70}`); code != 200 || out["unit"] != "Nm" {
		t.Fatalf("unit change back: %d %v", code, out)
	}

	if code, out, _ := s.do(t, "writer", "POST", "/api/v1/readings", "application/json", reading(time.Now().Add(-time.Minute), 41.5)); code != 201 {
		t.Fatalf("ingest: %d %v", code, out)
	}

	code, out := put(`{"unit":"kNm","min_valid":0,"max_valid":0.2}`)
	e, _ := out["error"].(map[string]any)
	details, _ := e["details"].(map[string]any)
	if code != 409 || errCode(out) != "unit_in_use" || details["unit"] != "Nm" || details["requested_unit"] != "kNm" {
		t.Errorf("unit change under readings: %d %v, want 409 unit_in_use", code, out)
	}
	code, out, _ = s.do(t, "reader", "GET", path, "", "")
	if code != 200 || out["unit"] != "Nm" || out["max_valid"] != 200.0 {
		t.Errorf("after the refused change: %d %v, want the sensor unchanged", code, out)
	}

	// Same unit, new limits and kind: allowed.
	if code, out := put(`{"kind":"torque","unit":"Nm","min_valid":0,"max_valid":250,"warn_high":65,"alarm_high":75}`); code != 200 ||
		out["unit"] != "Nm" || out["max_valid"] != 250.0 || out["alarm_high"] != 75.0 || out["kind"] != "torque" {
		t.Errorf("limit change under readings: %d %v", code, out)
	}
	// An unknown sensor is still a 404.
	if code, out, _ := s.do(t, "admin", "PUT", "/api/v1/assets/mill-1/sensors/ghost", "application/json", `{"unit":"Nm"}`); code != 404 || errCode(out) != "not_found" {
		t.Errorf("unknown sensor: %d %v", code, out)
	}
}
