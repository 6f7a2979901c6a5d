package backtest

import (
	"bytes"
	"context"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/smartmaint/smartmaint/internal/dataset"
	"github.com/smartmaint/smartmaint/internal/ml/modelfile"
	"github.com/smartmaint/smartmaint/internal/ml/risk"
)

func TestAzureScore(t *testing.T) {
	t0 := time.Date(2015, 3, 1, 0, 0, 0, 0, time.UTC)
	at := func(h int) time.Time { return t0.Add(time.Duration(h) * time.Hour) }
	// Machine 1 is above the threshold from hour 10 to 40 and fails at
	// hour 20 and hour 60; machine 2 alerts once and never fails.
	var hours []azureHour
	for h := 0; h < 100; h++ {
		s1 := 0.1
		if h >= 10 && h <= 40 {
			s1 = 0.9
		}
		s2 := 0.1
		if h == 70 {
			s2 = 0.8
		}
		hours = append(hours, azureHour{1, at(h), s1}, azureHour{2, at(h), s2})
	}
	failures := []dataset.AzureEvent{
		{Time: at(20), Machine: 1, Kind: "comp1"}, {Time: at(20), Machine: 1, Kind: "comp2"},
		{Time: at(60), Machine: 1, Kind: "comp3"},
	}
	for _, c := range []struct {
		name                                 string
		cooldown                             time.Duration
		alerts, trueAlerts, failures, caught int
		lead                                 float64
		falsePer1000                         float64
	}{
		// Alerts at 10 and 34 (machine 1) and 70 (machine 2): 10 catches
		// the hour-20 failure 10 h ahead; 34 is 26 h before hour 60, too
		// early; 70 is false.
		{"24h", 24 * time.Hour, 3, 1, 2, 1, 10, 1000 * 2.0 / 200},
		// An alert every hour from 10 to 40: 10..19 catch hour 20, 36..40
		// catch hour 60 (lead 24).
		{"1h", time.Hour, 32, 15, 2, 2, 17, 1000 * 17.0 / 200},
	} {
		t.Run(c.name, func(t *testing.T) {
			rep := &AzureReport{Threshold: 0.5, MachineHours: len(hours)}
			rep.azureScore(hours, failures, c.cooldown)
			if rep.Alerts != c.alerts || rep.TrueAlerts != c.trueAlerts || rep.Failures != c.failures || rep.FailuresCaught != c.caught {
				t.Errorf("alerts %d (%d true), failures %d (%d caught); want %d (%d), %d (%d)",
					rep.Alerts, rep.TrueAlerts, rep.Failures, rep.FailuresCaught, c.alerts, c.trueAlerts, c.failures, c.caught)
			}
			if rep.LeadTimeHours.Mean != c.lead || rep.FalseAlertsPer1000MachineHours != c.falsePer1000 {
				t.Errorf("mean lead %v, false per 1000 %v; want %v, %v", rep.LeadTimeHours.Mean, rep.FalseAlertsPer1000MachineHours, c.lead, c.falsePer1000)
			}
			if got := strings.Join(rep.FailureEvents[0].Components, "+"); got != "comp1+comp2" {
				t.Errorf("first failure components %s", got)
			}
		})
	}
}

func TestAzurePdM(t *testing.T) {
	if testing.Short() {
		t.Skip("trains a model on two months of machine-hours")
	}
	d, err := dataset.ShippedAzurePdM()
	if err != nil {
		t.Skip(err)
	}
	var calls, lastDone, lastTotal int
	o := AzureOptions{
		Data:     d,
		Training: risk.Config{Candidates: risk.DefaultCandidates()[:1]},
		Progress: func(done, total int) { calls++; lastDone, lastTotal = done, total },
	}
	rep, err := AzurePdM(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	march, april := time.Date(2015, 3, 1, 0, 0, 0, 0, time.UTC), time.Date(2015, 4, 1, 0, 0, 0, 0, time.UTC)
	type key struct {
		m int
		t time.Time
	}
	failHours := map[key]bool{}
	for _, f := range d.Failures {
		if f.Machine <= 20 && !f.Time.Before(march) && f.Time.Before(april) {
			failHours[key{f.Machine, f.Time}] = true
		}
	}
	if rep.Machines != 20 || rep.MachineHours != 20*31*24 || rep.Failures != len(failHours) {
		t.Errorf("%d machines, %d machine-hours, %d failures; want 20, %d, %d", rep.Machines, rep.MachineHours, rep.Failures, 20*31*24, len(failHours))
	}
	if calls == 0 || lastDone != lastTotal || lastTotal != rep.MachineHours {
		t.Errorf("progress: %d calls, last %d/%d", calls, lastDone, lastTotal)
	}
	if rep.Alerts == 0 || rep.Alerts > rep.MachineHours/24+rep.Machines {
		t.Errorf("%d alerts: a 24 h cooldown allows at most one a day per machine", rep.Alerts)
	}
	if rep.Recall < 0.5 || rep.FalseAlertsPer1000MachineHours > 5 {
		t.Errorf("caught %d of %d failures with %.2f false alerts per 1,000 machine-hours: want at least half, at most 5", rep.FailuresCaught, rep.Failures, rep.FalseAlertsPer1000MachineHours)
	}
	if rep.LeadTimeHours.Min < 1 || rep.LeadTimeHours.Max > 24 {
		t.Errorf("lead times %+v outside 1..24 h", rep.LeadTimeHours)
	}
	if rep.Threshold != rep.Training.Threshold {
		t.Errorf("threshold %v, training's %v", rep.Threshold, rep.Training.Threshold)
	}

	var m map[string]any
	b := jsonRoundTrip(t, rep, &m)
	if m["dataset"] != "azure-pdm" || m["false_alerts_per_1000_machine_hours"] == nil || m["failures_caught"] == nil {
		t.Errorf("JSON %s", b[:min(len(b), 300)])
	}
	var sum bytes.Buffer
	if err := rep.Summary(&sum); err != nil || !strings.Contains(sum.String(), "false alerts per 1,000 machine-hours") {
		t.Errorf("summary: %v\n%s", err, sum.String())
	}
	t.Logf("\n%s", sum.String())
	var _ Report = rep
	charts := rep.Charts()
	if len(charts) != 4 {
		t.Fatalf("%d charts, want 4", len(charts))
	}
	for _, c := range charts {
		if len(c.Failures) == 0 || len(c.Series[0].X) != 31*24 {
			t.Errorf("chart %s: %d failures, %d points", c.Name, len(c.Failures), len(c.Series[0].X))
		}
	}
	var img bytes.Buffer
	if err := charts[0].WritePNG(&img); err != nil {
		t.Fatal(err)
	}
	if _, err := png.Decode(&img); err != nil {
		t.Fatal(err)
	}

	// Replaying the saved model gives the same report.
	path := filepath.Join(t.TempDir(), "risk.model")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := modelfile.Write(f, rep.Training.Model); err != nil {
		t.Fatal(err)
	}
	f.Close()
	again, err := AzurePdM(context.Background(), AzureOptions{Data: d, Model: path})
	if err != nil {
		t.Fatal(err)
	}
	if again.Alerts != rep.Alerts || again.FailuresCaught != rep.FailuresCaught || again.Threshold != rep.Threshold || again.Training != nil {
		t.Errorf("from the model file: %d alerts, %d caught, threshold %v; trained: %d, %d, %v",
			again.Alerts, again.FailuresCaught, again.Threshold, rep.Alerts, rep.FailuresCaught, rep.Threshold)
	}

	// A longer cooldown never raises more alerts.
	prev := rep.MachineHours + 1
	for _, h := range []int{1, 6, 12, 24, 48} {
		r, err := AzurePdM(context.Background(), AzureOptions{Data: d, Model: path, Cooldown: time.Duration(h) * time.Hour})
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("cooldown %2d h: %3d alerts (%3d false, %.2f per 1,000 machine-hours), %d of %d failures caught, median lead %.1f h",
			h, r.Alerts, r.FalseAlerts, r.FalseAlertsPer1000MachineHours, r.FailuresCaught, r.Failures, r.LeadTimeHours.Median)
		if r.Alerts > prev {
			t.Errorf("cooldown %d h: %d alerts, more than a shorter cooldown's %d", h, r.Alerts, prev)
		}
		prev = r.Alerts
	}
}
