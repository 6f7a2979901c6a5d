package bearing

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/smartmaint/smartmaint/internal/ml/modelfile"
)

// synthRig returns n snapshots of 4 bearings ten minutes apart: healthy
// indicators with 1% noise on log rms, plus the changes mod makes.
func synthRig(n int, seed uint64, mod func(i, b int, x *Indicators)) ([]time.Time, [][]Indicators) {
	rng := rand.New(rand.NewPCG(seed, seed))
	start := time.Date(2004, 2, 12, 10, 32, 39, 0, time.UTC)
	times := make([]time.Time, n)
	xs := make([][]Indicators, n)
	for i := range xs {
		times[i] = start.Add(time.Duration(i) * 10 * time.Minute)
		xs[i] = make([]Indicators, 4)
		for b := range xs[i] {
			x := Indicators{
				RMS:         0.08 * (1 + 0.2*float64(b)) * math.Exp(0.01*rng.NormFloat64()),
				Kurtosis:    3.4 * math.Exp(0.03*rng.NormFloat64()),
				CrestFactor: 5.1 * math.Exp(0.08*rng.NormFloat64()),
			}
			if mod != nil {
				mod(i, b, &x)
			}
			xs[i][b] = x
		}
	}
	return times, xs
}

// runMonitor feeds every snapshot and returns the statuses.
func runMonitor(t *testing.T, m *Monitor, times []time.Time, xs [][]Indicators) [][]Status {
	t.Helper()
	out := make([][]Status, len(xs))
	for i := range xs {
		out[i] = make([]Status, m.Bearings())
		if err := m.Update(times[i], xs[i], out[i]); err != nil {
			t.Fatal(err)
		}
	}
	return out
}

func TestMonitor(t *testing.T) {
	const n, onset = 600, 400
	tests := []struct {
		name string
		mod  func(i, b int, x *Indicators)
		// alarm is the bearing that must alarm (-1: none), within
		// [onset, onset+maxDelay).
		alarm    int
		maxDelay int
	}{
		{"healthy", nil, -1, 0},
		{"bearing 2 degrades", func(i, b int, x *Indicators) {
			if b == 2 && i >= onset {
				x.RMS *= math.Exp(0.002 * float64(i-onset+50))
			}
		}, 2, 15},
		{"bearing 0 impulsive", func(i, b int, x *Indicators) {
			if b == 0 && i >= onset {
				x.Kurtosis *= 2
			}
		}, 0, 3},
		{"whole rig louder", func(i, b int, x *Indicators) {
			// Load or speed change: every bearing 50% louder.
			if i >= onset {
				x.RMS *= 1.5
			}
		}, -1, 0},
		{"bearing 1 fails, neighbours feel it", func(i, b int, x *Indicators) {
			if i >= onset {
				g := math.Exp(0.005 * float64(i-onset+50))
				if b == 1 {
					x.RMS *= g
				} else {
					x.RMS *= math.Sqrt(g) // transmitted
				}
			}
		}, 1, 15},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			times, xs := synthRig(n, 7, tt.mod)
			m, err := NewMonitor(4, HealthConfig{})
			if err != nil {
				t.Fatal(err)
			}
			st := runMonitor(t, m, times, xs)
			if got := st[143][0].State; got != Learning {
				t.Errorf("snapshot 143 (within the first day) is %v", got)
			}
			if got := st[145][0].State; got != Running {
				t.Errorf("snapshot 145 (after the first day) is %v", got)
			}
			if h := m.Model(); h == nil || h.Snapshots != 145 {
				t.Fatalf("model %+v, want a baseline of 145 snapshots (24 h inclusive)", h)
			}
			for b := 0; b < 4; b++ {
				at, ok := m.FirstAlarm(b)
				if b != tt.alarm {
					if ok {
						t.Errorf("bearing %d alarmed at %v", b, at)
					}
					continue
				}
				if !ok {
					t.Fatalf("bearing %d did not alarm", b)
				}
				i := int(at.Sub(times[0]) / (10 * time.Minute))
				if i < onset || i >= onset+tt.maxDelay {
					t.Errorf("bearing %d alarmed at snapshot %d, want %d..%d", b, i, onset, onset+tt.maxDelay-1)
				}
				if last := st[n-1][b]; !last.Alarm || !last.TTF.Valid {
					t.Errorf("last status %+v, want an alarm with a time to failure", last)
				}
			}
		})
	}
}

func TestMonitorStoppedAndTTF(t *testing.T) {
	// Bearing 0's rms grows exactly 5%/h from snapshot 300; snapshots 350
	// and 351 are taken with the rig stopped.
	const onset = 300
	times, xs := synthRig(400, 3, func(i, b int, x *Indicators) {
		if b == 0 && i >= onset {
			x.RMS = 0.08 * math.Exp(0.05*float64(i-onset)/6+0.2)
		}
		if i == 350 || i == 351 {
			x.RMS = 0.001
		}
	})
	m, err := NewMonitor(4, HealthConfig{})
	if err != nil {
		t.Fatal(err)
	}
	st := runMonitor(t, m, times, xs)
	for _, i := range []int{350, 351} {
		for b, s := range st[i] {
			if s.State != Stopped || !math.IsNaN(s.Health) {
				t.Errorf("snapshot %d bearing %d: %v health %v, want stopped", i, b, s.State, s.Health)
			}
		}
		if s := st[i][0]; s.Streak != st[349][0].Streak || !s.Alarm {
			t.Errorf("stopped snapshot %d changed the alarm: %+v", i, s)
		}
	}
	if at, ok := m.FirstAlarm(0); !ok || !at.Equal(times[onset]) {
		t.Errorf("first alarm %v %v, want %v", at, ok, times[onset])
	}
	// Failure at 10× the baseline rms (0.08 with 1% noise):
	// ln(10) = 0.2 + 0.05 h ⇒ h = 42.05 hours after the onset.
	s := st[399][0]
	want := 42.05 - float64(399-onset)/6
	if !s.TTF.Valid || math.Abs(s.TTF.Hours-want) > 0.5 {
		t.Errorf("TTF %+v, want %.2f h", s.TTF, want)
	}
	if !(s.TTF.Low <= s.TTF.Hours && s.TTF.Hours <= s.TTF.High) {
		t.Errorf("TTF interval %+v does not hold the estimate", s.TTF)
	}
}

func TestMonitorAllocs(t *testing.T) {
	times, xs := synthRig(200, 1, nil)
	m, err := NewMonitor(4, HealthConfig{})
	if err != nil {
		t.Fatal(err)
	}
	runMonitor(t, m, times[:150], xs[:150])
	out := make([]Status, 4)
	i := 150
	allocs := testing.AllocsPerRun(40, func() {
		if err := m.Update(times[i], xs[i], out); err != nil {
			t.Fatal(err)
		}
		i++
	})
	if allocs != 0 {
		t.Errorf("Update allocates %v times per snapshot once warmed", allocs)
	}
}

func TestHealthModelFile(t *testing.T) {
	times, xs := synthRig(300, 5, func(i, b int, x *Indicators) {
		if b == 3 && i >= 200 {
			x.RMS *= 1.5
		}
	})
	m, _ := NewMonitor(4, HealthConfig{})
	runMonitor(t, m, times[:150], xs[:150])
	h := m.Model()
	b, err := modelfile.Marshal(modelfile.Model{Scorer: h, Meta: modelfile.Metadata{FeatureNames: h.FeatureNames(), Threshold: h.Config.Threshold}})
	if err != nil {
		t.Fatal(err)
	}
	got, err := modelfile.Unmarshal(b)
	if err != nil {
		t.Fatal(err)
	}
	if got.Meta.Kind != KindHealth || !strings.Contains(string(got.Meta.Params), `"sustain":3`) {
		t.Errorf("metadata %+v", got.Meta)
	}
	h2, ok := got.Scorer.(*HealthModel)
	if !ok {
		t.Fatalf("decoded a %T", got.Scorer)
	}
	// The decoded model scores and monitors like the learned one.
	m2, err := NewMonitorFromModel(h2)
	if err != nil {
		t.Fatal(err)
	}
	a, c := make([]Status, 4), make([]Status, 4)
	flat := make([]float64, 12)
	for i := 150; i < 300; i++ {
		m.Update(times[i], xs[i], a)
		m2.Update(times[i], xs[i], c)
		for j := range a {
			if a[j] != c[j] && !(math.IsNaN(a[j].Health) && math.IsNaN(c[j].Health)) {
				t.Fatalf("snapshot %d bearing %d: %+v vs %+v", i, j, a[j], c[j])
			}
		}
		for j, x := range xs[i] {
			flat[3*j], flat[3*j+1], flat[3*j+2] = x.RMS, x.Kurtosis, x.CrestFactor
		}
		want := math.Inf(-1)
		for _, s := range a {
			want = max(want, s.Health)
		}
		if s := h2.Score(flat); s != want {
			t.Fatalf("snapshot %d: Score %v, monitor's largest health %v", i, s, want)
		}
	}
	if _, ok := m2.FirstAlarm(3); !ok {
		t.Error("bearing 3 (50% louder from snapshot 200) did not alarm")
	}
	if allocs := testing.AllocsPerRun(100, func() { h2.Score(flat) }); allocs != 0 {
		t.Errorf("Score allocates %v times", allocs)
	}
	// Damaged bodies are rejected.
	for _, body := range []string{`{}`, `{"bearings":1,"median_log":[[0,0,0]],"ref_median":[[0,0,0]],"ref_scale":[[0,1,1]]}`, `nope`} {
		if err := new(HealthModel).UnmarshalBinary([]byte(body)); err == nil {
			t.Errorf("accepted %s", body)
		}
	}
}

func TestMonitorErrors(t *testing.T) {
	if _, err := NewMonitor(0, HealthConfig{}); err == nil {
		t.Error("monitor of 0 bearings")
	}
	for _, c := range []HealthConfig{{Sustain: -1}, {Threshold: -2}, {StoppedRatio: 1}, {FailureRatio: 0.5}, {MinBaseline: 2}} {
		if _, err := NewMonitor(2, c); err == nil {
			t.Errorf("accepted %+v", c)
		}
	}
	m, _ := NewMonitor(2, HealthConfig{})
	if err := m.Update(time.Now(), make([]Indicators, 3), make([]Status, 2)); err == nil {
		t.Error("update with 3 indicators for 2 bearings")
	}
}

func TestRMSSigmaRule(t *testing.T) {
	tests := []struct {
		name    string
		rms     []float64
		healthy int
		first   int
		alarms  int
	}{
		{"none", []float64{1, 2, 1, 2, 1, 2, 1, 2}, 4, -1, 0},
		// healthy mean 1.5, σ 0.5: threshold 4.5 at k = 6.
		{"sustained", []float64{1, 2, 1, 2, 5, 5, 5, 5, 1}, 4, 4, 2},
		{"too short", []float64{1, 2, 1, 2, 5, 5, 1, 5, 5}, 4, -1, 0},
	}
	for _, tt := range tests {
		r, err := RMSSigmaRule(tt.rms, tt.healthy, 6, 3)
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, a := range r.Alarm {
			if a {
				n++
			}
		}
		if r.FirstAlarm != tt.first || n != tt.alarms || math.Abs(r.Threshold-4.5) > 1e-12 {
			t.Errorf("%s: first %d, %d alarms, threshold %v; want %d, %d, 4.5", tt.name, r.FirstAlarm, n, r.Threshold, tt.first, tt.alarms)
		}
	}
	if _, err := RMSSigmaRule([]float64{1}, 1, 6, 3); err == nil {
		t.Error("one healthy snapshot accepted")
	}
}
