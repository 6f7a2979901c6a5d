package ui

import (
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/smartmaint/smartmaint/internal/store"
)

var t0 = time.Date(2025, 6, 2, 8, 0, 0, 0, time.UTC)

// series returns n readings a second apart from t0 with values f(i).
func series(n int, f func(i int) float64) []store.Point {
	out := make([]store.Point, n)
	for i := range out {
		out[i] = store.Point{TS: t0.Add(time.Duration(i) * time.Second), Value: f(i)}
	}
	return out
}

var coords = regexp.MustCompile(`(-?[0-9.]+),(-?[0-9.]+)`)

// plotted returns the polyline's points.
func plotted(t *testing.T, svg string) [][2]float64 {
	t.Helper()
	m := regexp.MustCompile(`<polyline class="line" points="([^"]*)"`).FindStringSubmatch(svg)
	if m == nil {
		return nil
	}
	var out [][2]float64
	for _, c := range coords.FindAllStringSubmatch(m[1], -1) {
		x, _ := strconv.ParseFloat(c[1], 64)
		y, _ := strconv.ParseFloat(c[2], 64)
		out = append(out, [2]float64{x, y})
	}
	return out
}

func TestChartSVG(t *testing.T) {
	for _, tt := range []struct {
		name string
		c    chart
		// want are substrings of the SVG.
		want []string
		// points is how many polyline points; dots how many anomaly dots.
		points, dots int
	}{
		{
			name: "readings, anomalies and limits",
			c: chart{ID: "inc/1", Sensor: "torque", Unit: "Nm",
				Points:    series(60, func(i int) float64 { return 40 + float64(i%7) }),
				Anomalies: []store.Point{{TS: t0.Add(58 * time.Second), Value: 83}, {TS: t0.Add(59 * time.Second), Value: 85}},
				Limits:    []limit{{"alarm", 70, "alarm"}, {"warn", 60, "warn"}},
				From:      t0, To: t0.Add(time.Minute)},
			want: []string{`aria-labelledby="chart-inc-1-t chart-inc-1-d"`, "<title id=\"chart-inc-1-t\">torque readings</title>",
				"torque from 08:00 to 08:01: 60 readings, 2 anomalous from 83 to 85 Nm; alarm 70 Nm; warn 60 Nm.",
				`class="limit alarm"`, `class="limit warn"`, ">alarm 70</text>", "<title>85 Nm at 08:00:59</title>"},
			points: 60, dots: 2,
		},
		{
			name:   "constant readings",
			c:      chart{ID: "c", Sensor: "speed", Unit: "rpm", Points: series(10, func(int) float64 { return 1500 }), From: t0, To: t0.Add(10 * time.Second)},
			want:   []string{"10 readings."},
			points: 10,
		},
		{
			name: "buckets",
			c: chart{ID: "b", Sensor: "temp", Unit: "K", From: t0, To: t0.Add(3 * time.Minute),
				Points: []store.Point{{TS: t0, Value: 300}, {TS: t0.Add(time.Minute), Value: 301}, {TS: t0.Add(2 * time.Minute), Value: 302}},
				Bands:  []store.Bucket{{TS: t0, Min: 299, Max: 301}, {TS: t0.Add(time.Minute), Min: 300, Max: 302}, {TS: t0.Add(2 * time.Minute), Min: 301, Max: 303}}},
			want:   []string{`<polygon class="band"`, "(bucket means)"},
			points: 3,
		},
		{
			name: "nothing to draw",
			c:    chart{ID: "e", Sensor: "x", From: t0, To: t0},
			want: []string{"x from 08:00 to 08:00: 0 readings."},
		},
		{
			name:   "markup in names is escaped",
			c:      chart{ID: `"><script>`, Sensor: "<b>s</b>", Unit: "&", Points: series(2, func(i int) float64 { return float64(i) }), From: t0, To: t0.Add(time.Second)},
			want:   []string{"&lt;b&gt;s&lt;/b&gt; readings", `id="chart----script--t"`},
			points: 2,
		},
	} {
		t.Run(tt.name, func(t *testing.T) {
			svg := string(tt.c.SVG())
			if !strings.HasPrefix(svg, `<svg class="chart"`) || !strings.HasSuffix(svg, "</svg>") {
				t.Fatalf("not an svg element: %.100s", svg)
			}
			for _, w := range tt.want {
				if !strings.Contains(svg, w) {
					t.Errorf("svg lacks %q:\n%s", w, svg)
				}
			}
			for _, bad := range []string{"NaN", "Inf", "<script", "<b>"} {
				if strings.Contains(svg, bad) {
					t.Errorf("svg contains %q", bad)
				}
			}
			pts := plotted(t, svg)
			if len(pts) != tt.points {
				t.Errorf("%d polyline points, want %d", len(pts), tt.points)
			}
			for _, p := range pts {
				if p[0] < padLeft || p[0] > chartW-padRight || p[1] < padTop || p[1] > chartH-padBottom {
					t.Errorf("point %v outside the plot area", p)
				}
			}
			if got := strings.Count(svg, `<circle class="anomaly"`); got != tt.dots {
				t.Errorf("%d anomaly dots, want %d", got, tt.dots)
			}
		})
	}
}

// TestChartScale: higher values are drawn higher, later times further
// right, and the limits sit between the readings they separate.
func TestChartScale(t *testing.T) {
	c := chart{ID: "s", Sensor: "v", Points: []store.Point{{TS: t0, Value: 10}, {TS: t0.Add(time.Minute), Value: 90}},
		Limits: []limit{{"alarm", 50, "alarm"}}, From: t0, To: t0.Add(time.Minute)}
	svg := string(c.SVG())
	pts := plotted(t, svg)
	if len(pts) != 2 || pts[1][0] <= pts[0][0] || pts[1][1] >= pts[0][1] {
		t.Fatalf("points %v: the later, higher reading must be right of and above the first", pts)
	}
	m := regexp.MustCompile(`<line class="limit alarm" x1="[0-9.]+" x2="[0-9.]+" y1="([0-9.]+)"`).FindStringSubmatch(svg)
	if m == nil {
		t.Fatal("no limit line")
	}
	y, _ := strconv.ParseFloat(m[1], 64)
	if !(y < pts[0][1] && y > pts[1][1]) {
		t.Errorf("limit 50 at y=%g, not between the readings at %g and %g", y, pts[0][1], pts[1][1])
	}
}

func TestFitTime(t *testing.T) {
	c := chart{From: t0.Add(-time.Hour), To: t0.Add(time.Hour), Points: series(121, func(int) float64 { return 0 }),
		Anomalies: []store.Point{{TS: t0.Add(3 * time.Minute)}}}
	c.fitTime()
	if want := t0.Add(-3 * time.Minute / 40); !c.From.Equal(want) || !c.To.Equal(t0.Add(3*time.Minute+3*time.Minute/40)) {
		t.Errorf("fitted to %s – %s, want %s – %s", c.From, c.To, want, t0.Add(3*time.Minute+3*time.Minute/40))
	}
	short := chart{Points: series(2, func(int) float64 { return 0 })}
	short.fitTime()
	if d := short.To.Sub(short.From); d < time.Minute {
		t.Errorf("a 1-second history spans %s, want at least a minute", d)
	}
	empty := chart{From: t0, To: t0.Add(time.Hour)}
	empty.fitTime()
	if !empty.From.Equal(t0) || !empty.To.Equal(t0.Add(time.Hour)) {
		t.Error("a chart without data changed its window")
	}
}

func TestAgo(t *testing.T) {
	for _, tt := range []struct {
		d    time.Duration
		want string
	}{
		{0, "just now"}, {-30 * time.Second, "just now"}, {59 * time.Second, "just now"}, {5 * time.Minute, "5 min ago"},
		{3 * time.Hour, "3 h ago"}, {72 * time.Hour, "3 days ago"}, {-50 * time.Minute, "in 50 min"},
	} {
		if got := ago(t0, t0.Add(-tt.d)); got != tt.want {
			t.Errorf("ago(%s) = %q, want %q", tt.d, got, tt.want)
		}
	}
}

// BenchmarkChartSVG draws a full chart: 1500 readings, 20 anomalies and
// two limits.
func BenchmarkChartSVG(b *testing.B) {
	c := chart{ID: "bench", Sensor: "torque", Unit: "Nm", Points: series(chartReadings, func(i int) float64 { return 40 + float64(i%13) }),
		Limits: []limit{{"alarm", 70, "alarm"}, {"warn", 60, "warn"}}, From: t0, To: t0.Add(chartReadings * time.Second)}
	for i := range 20 {
		c.Anomalies = append(c.Anomalies, store.Point{TS: t0.Add(time.Duration(1400+i) * time.Second), Value: 80})
	}
	var n int
	for b.Loop() {
		n = len(c.SVG())
	}
	b.ReportMetric(float64(n), "bytes/chart")
}
