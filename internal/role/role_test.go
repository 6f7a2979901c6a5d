package role_test

import (
	"reflect"
	"testing"

	"github.com/smartmaint/smartmaint/internal/role"
)

func TestMay(t *testing.T) {
	tests := []struct {
		set  role.Set
		c    role.Capability
		want bool
	}{
		{role.Set{role.Viewer}, role.View, true},
		{role.Set{role.Viewer}, role.DecideIncidents, false},
		{role.Set{role.Operator}, role.DecideIncidents, true},
		{role.Set{role.Operator}, role.Plan, false},
		{role.Set{role.Technician}, role.WorkAssigned, true},
		{role.Set{role.Technician}, role.DecideIncidents, false},
		{role.Set{role.Planner}, role.Plan, true},
		{role.Set{role.Planner}, role.Administer, false},
		{role.Set{role.Operator, role.Planner}, role.Plan, true},
		{role.Set{role.Admin}, role.Administer, true},
		{role.Set{role.Admin}, role.WorkAssigned, true},
		{role.Set{}, role.View, false},
		{role.Set{"root"}, role.View, false},
	}
	for _, tt := range tests {
		if got := tt.set.May(tt.c); got != tt.want {
			t.Errorf("%v.May(%s) = %v, want %v", tt.set, tt.c, got, tt.want)
		}
	}
}

func TestNormalizeAndParse(t *testing.T) {
	got, err := role.Set{role.Admin, role.Viewer, role.Admin}.Normalize()
	if err != nil || !reflect.DeepEqual(got, role.Set{role.Viewer, role.Admin}) {
		t.Errorf("Normalize = %v, %v", got, err)
	}
	if _, err := (role.Set{"root"}).Normalize(); err == nil {
		t.Error("Normalize accepted an unknown role")
	}
	if r, err := role.Parse("planner"); err != nil || r != role.Planner {
		t.Errorf("Parse(planner) = %v, %v", r, err)
	}
	if _, err := role.Parse("Planner"); err == nil {
		t.Error("Parse accepted a miscased role")
	}
}
