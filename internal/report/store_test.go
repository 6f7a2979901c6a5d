package report_test

import (
	"bytes"
	"context"
	"errors"
	"reflect"
	"testing"

	"github.com/google/uuid"

	"github.com/smartmaint/smartmaint/internal/report"
	"github.com/smartmaint/smartmaint/internal/store"
	"github.com/smartmaint/smartmaint/internal/testenv"
)

func TestStoreLifecycle(t *testing.T) {
	db, _ := testenv.DB(t)
	testenv.Tenant(t, db, "acme")
	testenv.Tenant(t, db, "rival")
	ctx := context.Background()
	s := &report.Store{DB: db}

	id := uuid.NewString()
	m := report.Meta{ID: id, TenantID: "acme", WorkflowID: "report/acme/" + id, Trigger: report.TriggerAPI, RequestedBy: "api key ops",
		Window: window, Assets: []string{"mill-1"}}
	created, err := s.Create(ctx, m)
	if err != nil {
		t.Fatal(err)
	}
	if created.Status != report.StatusRunning || created.ID != id || !created.From.Equal(window.From) || !reflect.DeepEqual(created.Assets, []string{"mill-1"}) {
		t.Errorf("created = %+v", created)
	}
	// The workflow creates it again: nothing changes.
	again := m
	again.Trigger, again.RequestedBy = report.TriggerSchedule, "schedule"
	if got, err := s.Create(ctx, again); err != nil || got.Trigger != report.TriggerAPI || !got.CreatedAt.Equal(created.CreatedAt) {
		t.Errorf("second create = %+v, %v; want the first one back", got, err)
	}
	if _, err := s.Create(ctx, report.Meta{ID: "nope", TenantID: "acme"}); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("create with a bad id: %v", err)
	}

	if _, err := s.Document(ctx, "acme", id); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("document before compute: %v, want ErrNotFound", err)
	}
	doc := &report.Report{TenantID: "acme", Window: window, ComputedAt: t0, Totals: report.KPIs{Failures: 3, MTBFHours: ptr(12.5)}}
	if err := s.SaveDocument(ctx, "acme", id, doc); err != nil {
		t.Fatal(err)
	}
	if err := s.SaveDocument(ctx, "acme", id, doc); err != nil {
		t.Fatalf("saving again: %v", err)
	}
	png := report.Rendered{Name: "asset.mill-1", Format: report.PNG, Content: []byte("\x89PNG first")}
	if err := s.SaveCharts(ctx, "acme", id, []report.Rendered{png, {Name: "asset.mill-1", Format: report.SVG, Content: []byte("<svg/>")}}); err != nil {
		t.Fatal(err)
	}
	png.Content = []byte("\x89PNG second")
	if err := s.SaveCharts(ctx, "acme", id, []report.Rendered{png}); err != nil {
		t.Fatalf("saving a chart again: %v", err)
	}
	if err := s.Finish(ctx, "acme", id, []string{"asset.mill-1"}); err != nil {
		t.Fatal(err)
	}
	if err := s.Fail(ctx, "acme", id, "late failure"); err != nil {
		t.Fatal(err)
	}

	got, raw, err := s.Get(ctx, "acme", id)
	if err != nil {
		t.Fatal(err)
	}
	if got.Status != report.StatusDone || got.Error != "" || got.FinishedAt == nil || got.ComputedAt == nil || !got.ComputedAt.Equal(t0) ||
		!reflect.DeepEqual(got.Charts, []string{"asset.mill-1"}) || len(raw) == 0 {
		t.Errorf("finished report = %+v (a done report stays done)", got)
	}
	back, err := s.Document(ctx, "acme", id)
	if err != nil || back.Totals.Failures != 3 || *back.Totals.MTBFHours != 12.5 {
		t.Errorf("document = %+v, %v", back, err)
	}
	if b, err := s.Chart(ctx, "acme", id, "asset.mill-1", report.PNG); err != nil || !bytes.Equal(b, png.Content) {
		t.Errorf("chart = %q, %v; want the second version", b, err)
	}
	for _, tc := range []struct{ tenant, id, name string }{
		{"rival", id, "asset.mill-1"},
		{"acme", id, "asset.pump-2"},
		{"acme", uuid.NewString(), "asset.mill-1"},
		{"acme", "not-a-uuid", "asset.mill-1"},
	} {
		if _, err := s.Chart(ctx, tc.tenant, tc.id, tc.name, report.SVG); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("chart %+v: %v, want ErrNotFound", tc, err)
		}
	}
	if _, _, err := s.Get(ctx, "rival", id); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("rival reads acme's report: %v", err)
	}
	if err := s.Finish(ctx, "acme", uuid.NewString(), nil); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("finish unknown report: %v", err)
	}

	// A failed one, and paging newest first.
	failed := report.Meta{ID: uuid.NewString(), TenantID: "acme", WorkflowID: "w2", Trigger: report.TriggerSchedule, RequestedBy: "schedule", Window: window}
	if _, err := s.Create(ctx, failed); err != nil {
		t.Fatal(err)
	}
	if err := s.Fail(ctx, "acme", failed.ID, "database away"); err != nil {
		t.Fatal(err)
	}
	third := report.Meta{ID: uuid.NewString(), TenantID: "acme", WorkflowID: "w3", Trigger: report.TriggerAPI, RequestedBy: "x", Window: window}
	if _, err := s.Create(ctx, third); err != nil {
		t.Fatal(err)
	}
	page1, err := s.List(ctx, "acme", report.ListFilter{Limit: 2})
	if err != nil {
		t.Fatal(err)
	}
	page2, err := s.List(ctx, "acme", report.ListFilter{Limit: 2, Before: page1[len(page1)-1].ID})
	if err != nil {
		t.Fatal(err)
	}
	ids := func(ms []report.Meta) []string {
		out := []string{}
		for _, m := range ms {
			out = append(out, m.ID)
		}
		return out
	}
	if got, want := append(ids(page1), ids(page2)...), []string{third.ID, failed.ID, id}; !reflect.DeepEqual(got, want) {
		t.Errorf("pages = %v, want %v", got, want)
	}
	if fs, err := s.List(ctx, "acme", report.ListFilter{Status: report.StatusFailed}); err != nil || len(fs) != 1 || fs[0].Error != "database away" {
		t.Errorf("failed reports = %+v, %v", fs, err)
	}
	if rs, err := s.List(ctx, "rival", report.ListFilter{}); err != nil || len(rs) != 0 {
		t.Errorf("rival lists %+v, %v", rs, err)
	}
	if _, err := s.List(ctx, "acme", report.ListFilter{Before: "nope"}); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("list before a bad id: %v", err)
	}
}
