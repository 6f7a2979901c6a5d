package backtest

import (
	"bytes"
	"context"
	"encoding/json"
	"reflect"
	"slices"
	"testing"

	"github.com/smartmaint/smartmaint/internal/dataset"
	"github.com/smartmaint/smartmaint/internal/ml/rul"
	"github.com/smartmaint/smartmaint/internal/ml/rul/rultest"
)

func TestCMAPSS(t *testing.T) {
	path, m := rultest.SmallModel(t, t.TempDir())
	var calls []int
	rep, err := CMAPSS(context.Background(), CMAPSSOptions{Model: path, Units: []int{1, 2, 3}, Progress: func(done, total int) {
		if total != 3 {
			t.Errorf("progress total %d", total)
		}
		calls = append(calls, done)
	}})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(calls, []int{1, 2, 3}) || len(rep.Units) != 3 {
		t.Fatalf("progress %v, %d units", calls, len(rep.Units))
	}
	// The replay, one cycle at a time, gives what the batch evaluation of
	// the same model gives; the first test engine's truth is 112.
	f, _ := rul.FD001()
	test, _ := dataset.LoadCMAPSSEngines(f.Test)
	truth, _ := dataset.LoadCMAPSSRUL(f.RUL)
	units, met, err := rul.Evaluate(m, test[:3], truth[:3])
	if err != nil {
		t.Fatal(err)
	}
	for i, u := range rep.Units {
		if u.Unit != i+1 || u.RUL != units[i].RUL || u.Lower != units[i].Lower || u.Upper != units[i].Upper || *u.TrueRUL != *units[i].TrueRUL {
			t.Errorf("unit %d: replay %+v, batch %+v", i+1, u, units[i])
		}
	}
	if *rep.Units[0].TrueRUL != 112 || *rep.RMSE != met.RMSE || *rep.PHM08 != met.PHM08 || *rep.Coverage != met.Coverage {
		t.Errorf("report %v %v %v, metrics %+v", *rep.RMSE, *rep.PHM08, *rep.Coverage, met)
	}

	b, err := json.Marshal(rep)
	if err != nil {
		t.Fatal(err)
	}
	var top map[string]json.RawMessage
	json.Unmarshal(b, &top)
	var keys []string
	for k := range top {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	if !slices.Equal(keys, []string{"coverage", "dataset", "phm08", "rmse", "units"}) || string(top["dataset"]) != `"cmapss"` {
		t.Errorf("report keys %v, dataset %s", keys, top["dataset"])
	}
	var us []map[string]any
	json.Unmarshal(top["units"], &us)
	var ukeys []string
	for k := range us[0] {
		ukeys = append(ukeys, k)
	}
	slices.Sort(ukeys)
	if !reflect.DeepEqual(ukeys, []string{"lower", "rul", "true_rul", "unit", "upper"}) || us[0]["true_rul"] != 112.0 {
		t.Errorf("unit keys %v, %v", ukeys, us[0])
	}

	charts := rep.Charts()
	if len(charts) != 3 || len(charts[0].Series) != 4 || len(charts[0].Series[0].X) != len(test[0].Cycles) {
		t.Fatalf("%d charts", len(charts))
	}
	var png bytes.Buffer
	if err := charts[0].WritePNG(&png); err != nil || !bytes.HasPrefix(png.Bytes(), []byte("\x89PNG")) {
		t.Errorf("chart: %v", err)
	}
	var sum bytes.Buffer
	if err := rep.Summary(&sum); err != nil || !bytes.Contains(sum.Bytes(), []byte("RMSE")) {
		t.Errorf("summary %q, %v", sum.String(), err)
	}
}

func TestCMAPSSWithoutTruth(t *testing.T) {
	path, _ := rultest.SmallModel(t, t.TempDir())
	f, _ := rul.FD001()
	rep, err := CMAPSS(context.Background(), CMAPSSOptions{Model: path, Test: f.Test, Units: []int{5}, Charts: -1})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(rep)
	var got struct {
		RMSE, PHM08, Coverage *float64
		Units                 []struct {
			TrueRUL *float64 `json:"true_rul"`
		}
	}
	json.Unmarshal(b, &got)
	if got.RMSE != nil || got.PHM08 != nil || got.Coverage != nil || len(got.Units) != 1 || got.Units[0].TrueRUL != nil || len(rep.Charts()) != 0 {
		t.Errorf("report without truth: %s", b)
	}
	if _, err := CMAPSS(context.Background(), CMAPSSOptions{Model: path, Units: []int{999}}); err == nil {
		t.Error("a unit not in the file was accepted")
	}
	if _, err := CMAPSS(context.Background(), CMAPSSOptions{Model: f.Test}); err == nil {
		t.Error("a data file was read as a model")
	}
}
