package training

import (
	"context"
	"fmt"
	"io"
	"path/filepath"
	"text/tabwriter"
	"time"

	"github.com/smartmaint/smartmaint/internal/dataset"
	"github.com/smartmaint/smartmaint/internal/ml/bearing"
	"github.com/smartmaint/smartmaint/internal/ml/modelfile"
)

// BearingResult is the degradation detector's outcome on one run.
type BearingResult struct {
	Run          string    `json:"run"`
	Snapshots    int       `json:"snapshots"`
	Healthy      int       `json:"healthy"`
	Threshold    float64   `json:"threshold"`
	FirstAlarm   int       `json:"first_alarm"` // -1: none
	AlarmName    string    `json:"alarm_snapshot,omitempty"`
	AlarmTime    time.Time `json:"alarm_time,omitzero"`
	LifeFraction float64   `json:"life_fraction"`
	// HoursBeforeEnd is the time from the alarm to the last snapshot when
	// the snapshot names carry times.
	HoursBeforeEnd float64 `json:"hours_before_end,omitempty"`
	// Model is the run's detector with metadata.
	Model modelfile.Model `json:"-"`
}

// BearingRuns returns the run folders of raw snapshots under the datasets
// folder's ims-bearing/ folder (IMS sets No. 1 and 2); ErrNoBearingData
// when there are none.
func BearingRuns() ([]string, error) {
	d, err := dataset.Dir()
	if err != nil {
		return nil, err
	}
	runs, err := bearing.Runs(filepath.Join(d, "ims-bearing"))
	if err != nil {
		return nil, err
	}
	if len(runs) == 0 {
		return nil, ErrNoBearingData
	}
	return runs, nil
}

// Bearing runs the degradation detector on one run folder.
func Bearing(ctx context.Context, dir string, read bearing.Config, detect bearing.DetectConfig) (*BearingResult, error) {
	run, err := bearing.LoadRun(ctx, dir, read)
	if err != nil {
		return nil, err
	}
	det, err := bearing.Detect(run, detect)
	if err != nil {
		return nil, err
	}
	res := &BearingResult{
		Run: filepath.Base(dir), Snapshots: len(run.Features), Healthy: det.Healthy,
		Threshold: det.Threshold, FirstAlarm: det.FirstAlarm, LifeFraction: det.LifeFraction,
	}
	if det.FirstAlarm >= 0 {
		res.AlarmName = run.Names[det.FirstAlarm]
		res.AlarmTime = run.Times[det.FirstAlarm]
		if last := run.Times[len(run.Times)-1]; !res.AlarmTime.IsZero() && !last.IsZero() {
			res.HoursBeforeEnd = last.Sub(res.AlarmTime).Hours()
		}
	}
	res.Model = modelfile.Model{
		Scorer: det.Forest,
		Meta: modelfile.Metadata{
			FeatureNames:       run.FeatureNames,
			Threshold:          det.Threshold,
			TrainingDataSHA256: modelfile.DataHash(run.FeatureNames, run.Features[:det.Healthy], nil),
			Dataset:            "bearing/" + res.Run,
			Rows:               det.Healthy,
			Metrics:            map[string]float64{"first_alarm": float64(det.FirstAlarm), "life_fraction": det.LifeFraction},
			CreatedAt:          time.Now().UTC(),
		},
	}
	return res, nil
}

// WriteBearingTable prints one line per run.
func WriteBearingTable(w io.Writer, results []*BearingResult) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "run\tsnapshots\thealthy\tthreshold\tfirst sustained alarm\tsnapshot\tlife elapsed\thours before end")
	for _, r := range results {
		alarm, life, hours := "none", "-", "-"
		if r.FirstAlarm >= 0 {
			alarm = fmt.Sprint(r.FirstAlarm)
			life = fmt.Sprintf("%.1f%%", 100*r.LifeFraction)
			if r.HoursBeforeEnd > 0 {
				hours = fmt.Sprintf("%.1f", r.HoursBeforeEnd)
			}
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%.4f\t%s\t%s\t%s\t%s\n", r.Run, r.Snapshots, r.Healthy, r.Threshold, alarm, r.AlarmName, life, hours)
	}
	return tw.Flush()
}
