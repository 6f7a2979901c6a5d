package api_test

import (
	"context"
	"testing"

	"github.com/smartmaint/smartmaint/internal/incident"
)

// recordIncident writes an incident projection as the incident workflow
// does.
func (s *server) recordIncident(t *testing.T, tenant, id, asset string) {
	t.Helper()
	inc := incident.Projection{TenantID: tenant, ID: id, AssetID: asset, WorkflowID: incident.WorkflowID(tenant, asset),
		Status: "awaiting_approval", Severity: "major", Summary: []byte(`{}`), Seq: 1, OpenedAt: maintenanceMonday, UpdatedAt: maintenanceMonday}
	if err := s.db.RecordIncident(context.Background(), inc, nil); err != nil {
		t.Fatal(err)
	}
}

// TestWorkOrderReferencesStayInTenant: a work order may only name an
// incident, asset and technician of the caller's own tenant, and an
// incident of the work order's own asset. Tenant rival, which has an asset
// with the same id as acme's, cannot attach a work order to acme's
// incident.
func TestWorkOrderReferencesStayInTenant(t *testing.T) {
	s, _ := newMaintenanceServer(t)
	const path = "/api/v1/work-orders"
	s.key(t, "rival-decider", "rival", "incidents:decide")
	if code, body, _ := s.do(t, "admin", "POST", "/api/v1/assets", "application/json", `{"id":"press-7","type":"press"}`); code != 201 {
		t.Fatalf("create asset: %d %v", code, body)
	}
	if code, body, _ := s.do(t, "rival", "POST", "/api/v1/assets", "application/json", `{"id":"pump-1","type":"pump"}`); code != 201 {
		t.Fatalf("create rival asset: %d %v", code, body)
	}
	s.recordIncident(t, "acme", "inc-demo", "pump-1")
	s.recordIncident(t, "rival", "inc-rival", "pump-1")
	ada := s.mustCreate(t, "admin", "/api/v1/technicians", `{"name":"Ada","skills":["mech"],"shifts":`+officeWeek+`}`)

	for _, tt := range []struct {
		name, key, body string
		status          int
		code            string
	}{
		{"another tenant's incident", "rival-decider", `{"asset_id":"pump-1","incident_id":"inc-demo","title":"x","estimated_minutes":30,"auto_assign":false}`, 422, "invalid_work_order"},
		{"another tenant's incident, auto-assigned", "rival-decider", `{"asset_id":"pump-1","incident_id":"inc-demo","title":"x","estimated_minutes":30}`, 422, "invalid_work_order"},
		{"an unknown incident", "decider", `{"asset_id":"pump-1","incident_id":"inc-ghost","title":"x","estimated_minutes":30,"auto_assign":false}`, 422, "invalid_work_order"},
		{"an incident of another asset", "decider", `{"asset_id":"press-7","incident_id":"inc-demo","title":"x","estimated_minutes":30,"auto_assign":false}`, 422, "invalid_work_order"},
		{"another tenant's asset", "rival-decider", `{"asset_id":"press-7","title":"x","estimated_minutes":30,"auto_assign":false}`, 404, "not_found"},
		{"another tenant's technician", "rival-decider", `{"asset_id":"pump-1","title":"x","estimated_minutes":30,"technician_id":"` + ada + `","scheduled_start":"2030-06-03T09:00:00Z"}`, 404, "not_found"},
		{"its own incident", "rival-decider", `{"asset_id":"pump-1","incident_id":"inc-rival","title":"x","estimated_minutes":30,"auto_assign":false}`, 201, ""},
		{"acme's own incident", "decider", `{"asset_id":"pump-1","incident_id":"inc-demo","title":"x","estimated_minutes":30,"auto_assign":false}`, 201, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			code, body, _ := s.do(t, tt.key, "POST", path, "application/json", tt.body)
			expect(t, tt.name, code, body, tt.status, tt.code)
		})
	}

	// A rival work order cannot be assigned to acme's technician either.
	wo := s.mustCreate(t, "rival-decider", path, `{"asset_id":"pump-1","title":"y","estimated_minutes":30,"auto_assign":false}`)
	code, body, _ := s.do(t, "rival-decider", "PUT", path+"/"+wo+"/assignment", "application/json",
		`{"technician_id":"`+ada+`","start":"2030-06-03T09:00:00Z"}`)
	expect(t, "assign to another tenant's technician", code, body, 404, "not_found")

	// acme's incident has exactly its own work order.
	code, body, _ = s.do(t, "reader", "GET", path+"?incident=inc-demo", "", "")
	if items, _ := body["items"].([]any); code != 200 || len(items) != 1 {
		t.Errorf("acme's work orders of inc-demo: %d %v", code, body)
	}
}
