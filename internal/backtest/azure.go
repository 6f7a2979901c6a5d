package backtest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/smartmaint/smartmaint/internal/dataset"
	"github.com/smartmaint/smartmaint/internal/ml/modelfile"
	"github.com/smartmaint/smartmaint/internal/ml/risk"
)

// AzureOptions configure AzurePdM. Zero fields take the defaults.
type AzureOptions struct {
	// Dir is the azure-pdm folder; default dataset.AzurePdMDir().
	Dir string
	// Data, when set, is replayed instead of reading Dir.
	Data *dataset.AzurePdM
	// Start and End bound the replayed period [Start, End); default March
	// 2015. Telemetry before Start still feeds the feature windows.
	Start, End time.Time
	// Model is a model file (kind gbdt, risk.FeatureNames); "" trains one
	// with Training on the months before Start (default January–February
	// 2015).
	Model string
	// Training configures that training; its split fields default to
	// training up to Start.
	Training risk.Config
	// Threshold raises an alert at score >= Threshold; 0 takes the model's
	// threshold, the top-1% rate fixed on the training period.
	Threshold float64
	// Cooldown is how long a machine stays quiet after an alert; default
	// 24 h, so one failure does not raise an alert every hour.
	Cooldown time.Duration
	// ChartMachines is how many machines with failures get a chart;
	// default 4.
	ChartMachines int
	// Progress counts replayed machine-hours of the period.
	Progress Progress
}

// AzureReport is the outcome of an Azure PdM replay. Its JSON form is the
// contract in docs/ML.md.
type AzureReport struct {
	Dataset string    `json:"dataset"` // "azure-pdm"
	Start   time.Time `json:"start"`
	End     time.Time `json:"end"`
	// Model is the model file replayed, or "trained <from>..<to>".
	Model         string  `json:"model"`
	Threshold     float64 `json:"threshold"`
	CooldownHours float64 `json:"cooldown_hours"`
	HorizonHours  float64 `json:"horizon_hours"`
	Machines      int     `json:"machines"`
	MachineHours  int     `json:"machine_hours"`
	Alerts        int     `json:"alerts"`
	// TrueAlerts are alerts followed by a failure of the machine within
	// the horizon; the rest are false.
	TrueAlerts                     int     `json:"true_alerts"`
	FalseAlerts                    int     `json:"false_alerts"`
	FalseAlertsPer1000MachineHours float64 `json:"false_alerts_per_1000_machine_hours"`
	// Failures are the machine-hours with one or more component failures
	// in the period; a failure is caught when the machine had an alert in
	// the horizon before it.
	Failures       int          `json:"failures"`
	FailuresCaught int          `json:"failures_caught"`
	Recall         float64      `json:"recall"`
	LeadTimeHours  AzureLead    `json:"lead_time_hours"`
	FailureEvents  []AzureFail  `json:"failure_events"`
	AlertEvents    []AzureAlert `json:"alert_events"`
	// Training holds the figures of the model trained for the replay
	// (absent when Model names a file).
	Training *risk.Result `json:"training,omitempty"`

	charts []*Chart
}

// AzureLead summarises the lead times of caught failures: from the first
// alert in the horizon before the failure to the failure.
type AzureLead struct {
	Mean   float64 `json:"mean"`
	Median float64 `json:"median"`
	Min    float64 `json:"min"`
	Max    float64 `json:"max"`
}

// AzureFail is one failure of the period.
type AzureFail struct {
	Machine    int       `json:"machine"`
	Time       time.Time `json:"time"`
	Components []string  `json:"components"`
	Caught     bool      `json:"caught"`
	LeadHours  float64   `json:"lead_hours,omitempty"`
}

// AzureAlert is one alert raised.
type AzureAlert struct {
	Machine int       `json:"machine"`
	Time    time.Time `json:"time"`
	Score   float64   `json:"score"`
	True    bool      `json:"true"`
}

// AzurePdM replays the Azure PdM telemetry hour by hour through the
// failure-risk feature builder and model, raising an alert when a
// machine's risk reaches the threshold outside its cooldown, and reports
// the alerts raised, the failures caught, lead times and false alerts.
func AzurePdM(ctx context.Context, o AzureOptions) (*AzureReport, error) {
	if o.Start.IsZero() {
		o.Start = time.Date(2015, 3, 1, 0, 0, 0, 0, time.UTC)
	}
	if o.End.IsZero() {
		o.End = o.Start.AddDate(0, 1, 0)
	}
	if !o.End.After(o.Start) {
		return nil, fmt.Errorf("backtest: azure: end %v not after start %v", o.End, o.Start)
	}
	if o.Cooldown == 0 {
		o.Cooldown = 24 * time.Hour
	}
	if o.ChartMachines == 0 {
		o.ChartMachines = 4
	}
	d := o.Data
	if d == nil {
		dir := o.Dir
		if dir == "" {
			var err error
			if dir, err = dataset.AzurePdMDir(); err != nil {
				return nil, err
			}
		}
		var err error
		if d, err = dataset.LoadAzurePdM(dir); err != nil {
			return nil, err
		}
	}
	rep := &AzureReport{Dataset: risk.DatasetName, Start: o.Start, End: o.End,
		CooldownHours: o.Cooldown.Hours(), HorizonHours: risk.Horizon.Hours()}

	var model modelfile.Model
	if o.Model != "" {
		f, err := os.Open(o.Model)
		if err != nil {
			return nil, fmt.Errorf("backtest: %w", err)
		}
		model, err = modelfile.Read(f)
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("backtest: %s: %w", o.Model, err)
		}
		if err := risk.ModelFeatures(model); err != nil {
			return nil, fmt.Errorf("backtest: %s: %w", o.Model, err)
		}
		rep.Model = o.Model
	} else {
		cfg := o.Training
		if cfg.TrainEnd.IsZero() {
			cfg.TrainEnd = o.Start
		}
		if cfg.TestStart.IsZero() {
			cfg.TestStart, cfg.TestEnd = o.Start, o.End
		}
		r, err := risk.Train(ctx, d, cfg)
		if err != nil {
			return nil, fmt.Errorf("backtest: azure: %w", err)
		}
		model, rep.Training = r.Model, r
		rep.Model = fmt.Sprintf("trained %s..%s", r.Config.TrainStart.Format(time.DateOnly), r.Config.TrainEnd.Format(time.DateOnly))
	}
	rep.Threshold = o.Threshold
	if rep.Threshold == 0 {
		rep.Threshold = model.Meta.Threshold
	}

	total := 0
	machines := map[int]bool{}
	for _, r := range d.Telemetry {
		if !r.Time.Before(o.Start) && r.Time.Before(o.End) {
			total++
			machines[r.Machine] = true
		}
	}
	rep.Machines = len(machines)
	var hours []azureHour
	err := risk.Replay(ctx, d, func(h risk.Hour) error {
		if h.Time.Before(o.Start) || !h.Time.Before(o.End) {
			return nil
		}
		hours = append(hours, azureHour{machine: h.Machine, t: h.Time, score: model.Scorer.Score(h.X)})
		if o.Progress != nil && (len(hours)%500 == 0 || len(hours) == total) {
			o.Progress(len(hours), total)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	rep.MachineHours = len(hours)

	var failures []dataset.AzureEvent
	for _, f := range d.Failures {
		if machines[f.Machine] && !f.Time.Before(o.Start) && f.Time.Before(o.End) {
			failures = append(failures, f)
		}
	}
	rep.azureScore(hours, failures, o.Cooldown)
	rep.charts = azureCharts(rep, hours, o.ChartMachines)
	return rep, nil
}

type azureHour struct {
	machine int
	t       time.Time
	score   float64
}

// azureScore raises the alerts over hours (in time order) and matches them
// with the failures.
func (rep *AzureReport) azureScore(hours []azureHour, failures []dataset.AzureEvent, cooldown time.Duration) {
	horizon := risk.Horizon
	last := map[int]time.Time{}
	for _, h := range hours {
		if h.score < rep.Threshold {
			continue
		}
		if l, ok := last[h.machine]; ok && h.t.Sub(l) < cooldown {
			continue
		}
		last[h.machine] = h.t
		rep.AlertEvents = append(rep.AlertEvents, AzureAlert{Machine: h.machine, Time: h.t, Score: h.score})
	}
	type key struct {
		m int
		t time.Time
	}
	byKey := map[key]int{}
	for _, f := range failures {
		k := key{f.Machine, f.Time}
		i, ok := byKey[k]
		if !ok {
			i = len(rep.FailureEvents)
			byKey[k] = i
			rep.FailureEvents = append(rep.FailureEvents, AzureFail{Machine: f.Machine, Time: f.Time})
		}
		rep.FailureEvents[i].Components = append(rep.FailureEvents[i].Components, f.Kind)
	}
	slices.SortFunc(rep.FailureEvents, func(a, b AzureFail) int {
		if c := a.Time.Compare(b.Time); c != 0 {
			return c
		}
		return a.Machine - b.Machine
	})
	var leads []float64
	for i := range rep.FailureEvents {
		f := &rep.FailureEvents[i]
		for j := range rep.AlertEvents {
			a := &rep.AlertEvents[j]
			if a.Machine != f.Machine || !a.Time.Before(f.Time) || a.Time.Before(f.Time.Add(-horizon)) {
				continue
			}
			a.True = true
			if !f.Caught {
				f.Caught, f.LeadHours = true, f.Time.Sub(a.Time).Hours()
				leads = append(leads, f.LeadHours)
			}
		}
	}
	rep.Alerts, rep.Failures = len(rep.AlertEvents), len(rep.FailureEvents)
	for _, a := range rep.AlertEvents {
		if a.True {
			rep.TrueAlerts++
		}
	}
	rep.FalseAlerts = rep.Alerts - rep.TrueAlerts
	if rep.MachineHours > 0 {
		rep.FalseAlertsPer1000MachineHours = 1000 * float64(rep.FalseAlerts) / float64(rep.MachineHours)
	}
	rep.FailuresCaught = len(leads)
	if rep.Failures > 0 {
		rep.Recall = float64(rep.FailuresCaught) / float64(rep.Failures)
	}
	if len(leads) > 0 {
		sort.Float64s(leads)
		sum := 0.0
		for _, l := range leads {
			sum += l
		}
		n := len(leads)
		med := leads[n/2]
		if n%2 == 0 {
			med = (leads[n/2-1] + leads[n/2]) / 2
		}
		rep.LeadTimeHours = AzureLead{Mean: sum / float64(n), Median: med, Min: leads[0], Max: leads[n-1]}
	}
}

// azureCharts draws risk against time for the first n machines with
// failures in the period.
func azureCharts(rep *AzureReport, hours []azureHour, n int) []*Chart {
	var ids []int
	for _, f := range rep.FailureEvents {
		if !slices.Contains(ids, f.Machine) {
			ids = append(ids, f.Machine)
		}
	}
	slices.Sort(ids)
	if len(ids) > n {
		ids = ids[:n]
	}
	days := func(t time.Time) float64 { return t.Sub(rep.Start).Hours() / 24 }
	var out []*Chart
	for _, id := range ids {
		c := &Chart{
			Name:         fmt.Sprintf("azure-pdm-machine%d", id),
			Title:        fmt.Sprintf("Azure PdM machine %d: 24 h failure risk", id),
			XLabel:       "days since " + rep.Start.Format(time.DateOnly),
			YLabel:       "P(failure within 24 h)",
			Threshold:    rep.Threshold,
			HasThreshold: true,
		}
		s := Series{Name: "risk"}
		for _, h := range hours {
			if h.machine == id {
				s.X, s.Y = append(s.X, days(h.t)), append(s.Y, h.score)
			}
		}
		c.Series = []Series{s}
		for _, a := range rep.AlertEvents {
			if a.Machine == id {
				c.Alarms = append(c.Alarms, days(a.Time))
			}
		}
		for _, f := range rep.FailureEvents {
			if f.Machine == id {
				c.Failures = append(c.Failures, days(f.Time))
			}
		}
		out = append(out, c)
	}
	return out
}

// Charts are risk against time for a few machines with failures, alerts
// and failures marked.
func (rep *AzureReport) Charts() []*Chart { return rep.charts }

// Summary writes the figures and each failure's outcome.
func (rep *AzureReport) Summary(w io.Writer) error {
	if rep == nil {
		return errors.New("backtest: no report")
	}
	var b strings.Builder
	fmt.Fprintf(&b, "Azure PdM replay %s..%s, model %s, threshold %.4f, cooldown %g h, horizon %g h\n",
		rep.Start.Format(time.DateOnly), rep.End.Format(time.DateOnly), rep.Model, rep.Threshold, rep.CooldownHours, rep.HorizonHours)
	fmt.Fprintf(&b, "%d machines, %d machine-hours\n", rep.Machines, rep.MachineHours)
	fmt.Fprintf(&b, "alerts %d: %d true, %d false (%.2f false alerts per 1,000 machine-hours)\n",
		rep.Alerts, rep.TrueAlerts, rep.FalseAlerts, rep.FalseAlertsPer1000MachineHours)
	fmt.Fprintf(&b, "failures %d, caught %d (%.0f%%); lead time hours: median %.1f, mean %.1f, min %.0f, max %.0f\n",
		rep.Failures, rep.FailuresCaught, 100*rep.Recall, rep.LeadTimeHours.Median, rep.LeadTimeHours.Mean, rep.LeadTimeHours.Min, rep.LeadTimeHours.Max)
	for _, f := range rep.FailureEvents {
		outcome := "missed"
		if f.Caught {
			outcome = fmt.Sprintf("caught %.0f h ahead", f.LeadHours)
		}
		fmt.Fprintf(&b, "  machine %3d %s %-11s %s\n", f.Machine, f.Time.Format("2006-01-02 15:04"), strings.Join(f.Components, "+"), outcome)
	}
	_, err := io.WriteString(w, b.String())
	return err
}
