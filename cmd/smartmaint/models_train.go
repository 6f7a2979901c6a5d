package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/smartmaint/smartmaint/activities"
	"github.com/smartmaint/smartmaint/internal/mlops"
)

// trainOptions are the flags of `smartmaint models train`.
type trainOptions struct {
	kind, assetType, from, to, alias, horizon string
	classWeight                               string
	contamination, learningRate               float64
	trees, maxIter                            int
	features                                  map[string]string
	poll                                      time.Duration
	quiet                                     bool
}

func trainFlags(fs *flag.FlagSet) any {
	o := &trainOptions{features: map[string]string{}}
	fs.StringVar(&o.kind, "kind", "", "model kind (required): "+trainableKinds())
	fs.StringVar(&o.assetType, "asset-type", "", "asset type whose assets' readings are trained on (required)")
	fs.StringVar(&o.from, "from", "", "start of the readings, RFC 3339 (required)")
	fs.StringVar(&o.to, "to", "", "end of the readings, excluded, RFC 3339 (required)")
	fs.StringVar(&o.alias, "alias", "", "alias the version takes: challenger (default) or champion (a model without one)")
	fs.StringVar(&o.horizon, "horizon", "", "failure_risk: a snapshot is a positive when a confirmed failure follows within it (default 24h)")
	fs.Float64Var(&o.contamination, "contamination", 0, "anomaly: share of training snapshots above the threshold (default 0.01)")
	fs.IntVar(&o.trees, "trees", 0, "anomaly: isolation trees (default 100)")
	fs.IntVar(&o.maxIter, "max-iter", 0, "failure_risk: boosting iterations (default 100)")
	fs.Float64Var(&o.learningRate, "learning-rate", 0, "failure_risk: learning rate (default 0.1)")
	fs.StringVar(&o.classWeight, "class-weight", "", "failure_risk: balanced for more recall at less precision (default unweighted)")
	fs.Func("feature", "model feature and its source, NAME=SENSOR or NAME=asset.KEY (repeat; default the binding's or the sensor ids)", func(s string) error {
		name, src, ok := strings.Cut(s, "=")
		if !ok || name == "" || src == "" {
			return fmt.Errorf("%q: want NAME=SOURCE", s)
		}
		o.features[name] = src
		return nil
	})
	fs.DurationVar(&o.poll, "poll", 500*time.Millisecond, "how often to ask for the progress")
	fs.BoolVar(&o.quiet, "quiet", false, "no progress bar")
	return o
}

// trainingState is what GET /api/v1/models/{name}/training/{id} answers.
type trainingState struct {
	Status   string                        `json:"status"`
	Stage    string                        `json:"stage"`
	Progress activities.TrainModelProgress `json:"progress"`
	Result   *activities.TrainModelOutput  `json:"result"`
	Error    string                        `json:"error"`
}

// modelsTrain starts a training (POST /api/v1/models/{name}/training),
// shows its progress until it ends and prints the version and its holdout
// metrics; a failed training is an error.
func modelsTrain(ctx context.Context, c *modelsClient, args []string, out io.Writer) error {
	o := c.opts.(*trainOptions)
	switch {
	case len(args) != 1:
		return errors.New("models train: want one model name, e.g. smartmaint models train risk-cnc-mill --kind failure_risk --asset-type cnc-mill --from 2026-03-01T00:00:00Z --to 2026-03-08T00:00:00Z")
	case o.kind == "" || o.assetType == "" || o.from == "" || o.to == "":
		return errors.New("models train: --kind, --asset-type, --from and --to are required")
	}
	body := map[string]any{"kind": o.kind, "asset_type": o.assetType, "from": o.from, "to": o.to}
	if o.alias != "" {
		body["alias"] = o.alias
	}
	if len(o.features) > 0 {
		body["features"] = o.features
	}
	params := map[string]any{}
	for k, v := range map[string]any{"horizon": o.horizon, "contamination": o.contamination, "trees": o.trees, "max_iter": o.maxIter, "learning_rate": o.learningRate, "class_weight": o.classWeight} {
		if v != "" && v != 0 && v != 0.0 {
			params[k] = v
		}
	}
	if len(params) > 0 {
		body["params"] = params
	}
	raw, _ := json.Marshal(body)
	var started struct {
		TrainingID string `json:"training_id"`
		Location   string `json:"location"`
	}
	if err := c.do(ctx, http.MethodPost, modelPath(args[0], "training"), nil, bytes.NewReader(raw), http.Header{"Content-Type": {"application/json"}}, &started); err != nil {
		return fmt.Errorf("models train: %w", err)
	}
	fmt.Fprintf(out, "training %s started: %s\n", args[0], started.TrainingID)
	b := newBar(o.quiet)
	defer b.finish()
	for {
		var s trainingState
		if err := c.do(ctx, http.MethodGet, modelPath(args[0], "training", started.TrainingID), nil, nil, nil, &s); err != nil {
			return fmt.Errorf("models train: %w", err)
		}
		if s.Status != "running" {
			b.finish()
			return printTraining(out, args[0], s)
		}
		p := s.Progress
		desc := fmt.Sprintf("%-11s %d snapshots", orDash(p.Stage), p.RowsRead)
		if p.Trees > 0 {
			desc += fmt.Sprintf(", %d/%d trees", p.TreesBuilt, p.Trees)
		}
		if set := b.set(desc); set != nil {
			set(int(p.Percent), 100)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("models train: stopped waiting; the training goes on (%s): %w", started.Location, ctx.Err())
		case <-time.After(o.poll):
		}
	}
}

// printTraining prints an ended training's version and metrics, or its
// error.
func printTraining(out io.Writer, name string, s trainingState) error {
	r := s.Result
	if s.Status != "completed" || r == nil {
		return fmt.Errorf("models train: training of %s %s: %s", name, s.Status, orDash(s.Error))
	}
	fmt.Fprintf(out, "trained %s version %d (%s, %s): %d features, %d training and %d holdout snapshots (holdout from %s), %.1fs\n",
		r.Model, r.Version, r.Kind, r.Alias, len(r.Features), r.TrainRows, r.HoldoutRows, r.HoldoutFrom.UTC().Format(time.RFC3339), r.Seconds)
	for _, k := range slices.Sorted(maps.Keys(r.Metrics)) {
		fmt.Fprintf(out, "  %-22s %.4g\n", k, r.Metrics[k])
	}
	for _, k := range slices.Sorted(maps.Keys(r.Unavailable)) {
		fmt.Fprintf(out, "  %-22s unavailable: %s\n", k, r.Unavailable[k])
	}
	return nil
}

// trainableKinds lists the kinds the training workflow trains, for help.
func trainableKinds() string {
	names := make([]string, len(mlops.TrainableKinds))
	for i, k := range mlops.TrainableKinds {
		names[i] = string(k)
	}
	return strings.Join(names, ", ")
}
