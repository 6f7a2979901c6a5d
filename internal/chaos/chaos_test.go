package chaos

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/interceptor"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/worker"
)

func TestParse(t *testing.T) {
	tests := []struct {
		errors, delays string
		want           Config
		wantErr        string
	}{
		{"", "", Config{}, ""},
		{"Notify=0.3, ScheduleWorkOrder=0.2", "", Config{Errors: map[string]float64{"Notify": 0.3, "ScheduleWorkOrder": 0.2}}, ""},
		{"*=0.5", "Notify=5s,*=100ms", Config{Errors: map[string]float64{"*": 0.5}, Delays: map[string]time.Duration{"Notify": 5 * time.Second, "*": 100 * time.Millisecond}}, ""},
		{"Notify=1.5", "", Config{}, "from 0 to 1"},
		{"Notify=NaN", "", Config{}, "from 0 to 1"},
		{"Notify", "", Config{}, "ActivityType=value"},
		{"=0.1", "", Config{}, "ActivityType=value"},
		{"", "Notify=soon", Config{}, "duration"},
		{"", "Notify=-1s", Config{}, "duration"},
	}
	for _, tt := range tests {
		got, err := Parse(tt.errors, tt.delays)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("Parse(%q, %q) error = %v, want one mentioning %q", tt.errors, tt.delays, err, tt.wantErr)
			}
			continue
		}
		if err != nil || got.String() != tt.want.String() {
			t.Errorf("Parse(%q, %q) = %v, %v; want %v", tt.errors, tt.delays, got, err, tt.want)
		}
	}
	c, _ := Parse("*=0.5,Notify=0", "")
	if c.ErrorRate("Notify") != 0 || c.ErrorRate("Record") != 0.5 || !c.Enabled() {
		t.Errorf("a type's own entry must win over *: %v", c)
	}
	if (Config{Errors: map[string]float64{"Notify": 0}}).Enabled() {
		t.Error("zero rates are not enabled")
	}
}

func FuzzParse(f *testing.F) {
	f.Add("Notify=0.3,ScheduleWorkOrder=0.2", "Notify=5s")
	f.Add("*=1", "*=0s")
	f.Add(",=,", "a=b=c")
	f.Fuzz(func(t *testing.T, errs, delays string) {
		c, err := Parse(errs, delays)
		if err != nil {
			return
		}
		for name, p := range c.Errors {
			if name == "" || !(p >= 0 && p <= 1) {
				t.Fatalf("Parse(%q) accepted %q=%v", errs, name, p)
			}
		}
		for name, d := range c.Delays {
			if name == "" || d < 0 {
				t.Fatalf("Parse(%q) accepted %q=%v", delays, name, d)
			}
		}
	})
}

// TestInterceptor runs an activity through the interceptor with the dice
// fixed: failures before and after the body, a delay, and no fault.
func TestInterceptor(t *testing.T) {
	var runs atomic.Int32
	work := func(ctx context.Context) (string, error) {
		runs.Add(1)
		return "done", nil
	}
	tests := []struct {
		name     string
		cfg      Config
		rolls    []float64 // fail?, then before?
		wantRuns int32
		wantErr  bool
		minTime  time.Duration
	}{
		{"no fault", Config{Errors: map[string]float64{"Other": 1}}, nil, 1, false, 0},
		{"fails before", Config{Errors: map[string]float64{"work": 0.3}}, []float64{0.1, 0.2}, 0, true, 0},
		{"fails after", Config{Errors: map[string]float64{"*": 0.3}}, []float64{0.1, 0.7}, 1, true, 0},
		{"dice say no", Config{Errors: map[string]float64{"work": 0.3}}, []float64{0.5}, 1, false, 0},
		{"delay", Config{Delays: map[string]time.Duration{"work": 50 * time.Millisecond}}, nil, 1, false, 50 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			runs.Store(0)
			i := NewInterceptor(tt.cfg)
			rolls := tt.rolls
			i.roll = func() float64 {
				if len(rolls) == 0 {
					t.Fatal("rolled more dice than expected")
				}
				r := rolls[0]
				rolls = rolls[1:]
				return r
			}
			var s testsuite.WorkflowTestSuite
			env := s.NewTestActivityEnvironment()
			env.SetWorkerOptions(worker.Options{Interceptors: []interceptor.WorkerInterceptor{i}})
			env.RegisterActivityWithOptions(work, activity.RegisterOptions{Name: "work"})
			start := time.Now()
			val, err := env.ExecuteActivity("work")
			if got := runs.Load(); got != tt.wantRuns {
				t.Errorf("activity body ran %d times, want %d", got, tt.wantRuns)
			}
			if tt.wantErr {
				var appErr *temporal.ApplicationError
				if !errors.As(err, &appErr) || appErr.Type() != ErrorType {
					t.Fatalf("err = %v, want an injected %s", err, ErrorType)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var out string
			if err := val.Get(&out); err != nil || out != "done" {
				t.Errorf("result %q, %v", out, err)
			}
			if took := time.Since(start); took < tt.minTime {
				t.Errorf("took %s, want at least %s", took, tt.minTime)
			}
		})
	}
}
