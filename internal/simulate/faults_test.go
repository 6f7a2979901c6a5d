package simulate

import (
	"math"
	"math/rand/v2"
	"reflect"
	"testing"

	"github.com/smartmaint/smartmaint/internal/dataset"
)

// testRecords loads the real AI4I dataset.
func testRecords(t testing.TB) []dataset.AI4I {
	t.Helper()
	recs, err := dataset.ShippedAI4I()
	if err != nil {
		t.Fatal(err)
	}
	return recs
}

// baseSamples is a plain reading of every sensor near the dataset medians.
func baseSamples() [numSensors]sample {
	return [numSensors]sample{{value: 300}, {value: 310}, {value: 1500}, {value: 40}, {value: 100}}
}

func TestParseFaults(t *testing.T) {
	tests := []struct {
		in      string
		want    []string
		wantErr bool
	}{
		{"", FaultKinds, false},
		{"all", FaultKinds, false},
		{"none", nil, false},
		{"episode, invalid", []string{FaultEpisode, FaultInvalid}, false},
		{"episode,bogus", nil, true},
	}
	for _, tt := range tests {
		got, err := parseFaults(tt.in)
		if (err != nil) != tt.wantErr {
			t.Errorf("parseFaults(%q) error = %v, want error %v", tt.in, err, tt.wantErr)
			continue
		}
		if err != nil {
			continue
		}
		want := map[string]bool{}
		for _, k := range tt.want {
			want[k] = true
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("parseFaults(%q) = %v, want %v", tt.in, got, want)
		}
	}
}

func TestWindow(t *testing.T) {
	tests := []struct {
		step, start, length, every int
		n, k                       int
		ok                         bool
	}{
		{19, 20, 12, 300, 0, 0, false},
		{20, 20, 12, 300, 0, 0, true},
		{31, 20, 12, 300, 0, 11, true},
		{32, 20, 12, 300, 0, 12, false},
		{325, 20, 12, 300, 1, 5, true},
		{10, 10, 1, 45, 0, 0, true},
		{11, 10, 1, 45, 0, 1, false},
		{55, 10, 1, 45, 1, 0, true},
		{5, 0, 1, 0, 0, 0, false},
	}
	for _, tt := range tests {
		n, k, ok := window(tt.step, tt.start, tt.length, tt.every)
		if ok != tt.ok || ok && (n != tt.n || k != tt.k) {
			t.Errorf("window(%d, %d, %d, %d) = %d, %d, %t; want %d, %d, %t", tt.step, tt.start, tt.length, tt.every, n, k, ok, tt.n, tt.k, tt.ok)
		}
	}
}

func TestInjectors(t *testing.T) {
	recs := testRecords(t)
	specs := Sensors(recs)
	var medians [numSensors]float64
	for i, s := range specs {
		medians[i] = s.median(recs)
	}
	torqueAlarm, tempAlarm := *specs[Torque].AlarmHigh, *specs[ProcessTemp].AlarmHigh
	p := defaultPlan
	ep := func() injector { return newEpisode(p, specs, medians, 3) }

	tests := []struct {
		name  string
		inj   func() injector
		steps []int // applied in order to one injector
		asset int
		// check looks at the samples after the last step.
		check func(t *testing.T, before, after [numSensors]sample)
	}{
		{"episode not yet", ep, []int{19}, 0, unchanged},
		{"episode ramps", ep, []int{20}, 0, func(t *testing.T, b, a [numSensors]sample) {
			if a[Torque].value <= b[Torque].value || a[Torque].value >= torqueAlarm*1.1 || a[Torque].fault != FaultEpisode {
				t.Errorf("first episode step torque = %+v; want a third of the way to the peak", a[Torque])
			}
		}},
		{"episode past alarms", ep, []int{22}, 0, func(t *testing.T, b, a [numSensors]sample) {
			if a[Torque].value <= torqueAlarm || a[ProcessTemp].value <= tempAlarm {
				t.Errorf("torque %g (alarm %g), process temp %g (alarm %g): want both past the alarm", a[Torque].value, torqueAlarm, a[ProcessTemp].value, tempAlarm)
			}
			if a[Speed] != b[Speed] || a[AirTemp] != b[AirTemp] {
				t.Errorf("episode touched other sensors: %+v", a)
			}
		}},
		{"episode other asset", ep, []int{22}, 1, unchanged},
		{"episode ended", ep, []int{32}, 0, unchanged},
		{"episode moves to next asset", ep, []int{325}, 1, func(t *testing.T, b, a [numSensors]sample) {
			if a[Torque].value <= torqueAlarm {
				t.Errorf("second episode on asset 1: torque %g", a[Torque].value)
			}
		}},
		{"drift none at reset", func() injector { return &drift{asset: 1, rate: 0.01, period: 720} }, []int{720}, 1, unchanged},
		{"drift ramps", func() injector { return &drift{asset: 1, rate: 0.01, period: 720} }, []int{500}, 1, func(t *testing.T, b, a [numSensors]sample) {
			if d := a[ProcessTemp].value - b[ProcessTemp].value; d < 4.99 || d > 5.01 || a[ProcessTemp].fault != FaultDrift {
				t.Errorf("drift after 500 steps = %g K (%q), want 5 K", d, a[ProcessTemp].fault)
			}
		}},
		{"drift other asset", func() injector { return &drift{asset: 1, rate: 0.01, period: 720} }, []int{500}, 0, unchanged},
		{"spike never at 0", func() injector { return &spike{specs: specs, prob: 0, rng: rand.New(rand.NewPCG(1, 2))} }, []int{1}, 0, unchanged},
		{"spike always at 1", func() injector { return &spike{specs: specs, prob: 1, rng: rand.New(rand.NewPCG(1, 2))} }, []int{1}, 0, func(t *testing.T, b, a [numSensors]sample) {
			for i, s := range specs {
				if s.Counter {
					if a[i] != b[i] {
						t.Errorf("spike on counter %s", s.ID)
					}
					continue
				}
				half := (*s.WarnHigh - *s.WarnLow) / 2
				d := a[i].value - b[i].value
				if math.Abs(math.Abs(d)-half) > 1e-9 || a[i].fault != FaultSpike {
					t.Errorf("%s spiked by %g, want ±%g", s.ID, d, half)
				}
			}
		}},
		{"invalid at its step", func() injector { return &invalid{specs: specs, start: 10, every: 45, assets: 3} }, []int{55}, 1, func(t *testing.T, b, a [numSensors]sample) {
			if a[ProcessTemp].value <= *specs[ProcessTemp].MaxValid || a[ProcessTemp].fault != FaultInvalid {
				t.Errorf("second invalid reading = %+v, want process_temp above %g", a[ProcessTemp], *specs[ProcessTemp].MaxValid)
			}
		}},
		{"invalid elsewhere", func() injector { return &invalid{specs: specs, start: 10, every: 45, assets: 3} }, []int{55}, 0, unchanged},
		{"invalid between", func() injector { return &invalid{specs: specs, start: 10, every: 45, assets: 3} }, []int{11}, 0, unchanged},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			inj := tt.inj()
			var before, after [numSensors]sample
			for _, step := range tt.steps {
				before = baseSamples()
				after = before
				inj.apply(step, tt.asset, &after)
			}
			tt.check(t, before, after)
		})
	}
}

func unchanged(t *testing.T, before, after [numSensors]sample) {
	t.Helper()
	if before != after {
		t.Errorf("samples changed: %+v → %+v", before, after)
	}
}

func TestStuckHoldsValue(t *testing.T) {
	st := &stuck{asset: 0, sensor: Speed, start: 30, length: 60, every: 600, heldWindow: -1}
	tests := []struct {
		step      int
		in, want  float64
		wantFault string
	}{
		{29, 1400, 1400, ""},
		{30, 1500, 1500, FaultStuck},
		{31, 1600, 1500, FaultStuck},
		{89, 1700, 1500, FaultStuck},
		{90, 1800, 1800, ""},
		{630, 1900, 1900, FaultStuck},
		{631, 2000, 1900, FaultStuck},
	}
	for _, tt := range tests {
		s := baseSamples()
		s[Speed].value = tt.in
		st.apply(tt.step, 0, &s)
		if s[Speed].value != tt.want || s[Speed].fault != tt.wantFault {
			t.Errorf("step %d: speed %g (%q), want %g (%q)", tt.step, s[Speed].value, s[Speed].fault, tt.want, tt.wantFault)
		}
	}
}

func TestDropoutLasts(t *testing.T) {
	d := &dropout{prob: 1, minLen: 5, maxLen: 20, rng: rand.New(rand.NewPCG(7, 7)), until: map[[2]int]int{}}
	s := baseSamples()
	d.apply(0, 0, &s)
	d.prob = 0
	missing := 0
	for step := 0; step < 40; step++ {
		if step > 0 {
			s = baseSamples()
			d.apply(step, 0, &s)
		}
		for _, x := range s {
			if x.missing {
				if x.fault != FaultDropout {
					t.Fatalf("missing sample without the dropout fault: %+v", x)
				}
				missing++
			}
		}
	}
	if missing < 5 || missing > 20 {
		t.Errorf("dropout silenced %d readings, want 5 to 20", missing)
	}
	s = baseSamples()
	d.apply(1, 1, &s)
	for _, x := range s {
		if x.missing {
			t.Errorf("dropout leaked to another asset")
		}
	}
}
