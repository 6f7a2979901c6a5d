package report_test

import (
	"bytes"
	"context"
	"encoding/xml"
	"image"
	"image/color"
	"image/png"
	"io"
	"testing"
	"time"

	"github.com/smartmaint/smartmaint/internal/report"
	"github.com/smartmaint/smartmaint/internal/store"
	"github.com/smartmaint/smartmaint/internal/testenv"
)

// decodePNG decodes a rendered PNG and checks its size in pixels.
func decodePNG(t *testing.T, b []byte, wantW, wantH int) image.Image {
	t.Helper()
	img, err := png.Decode(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("PNG does not decode: %v", err)
	}
	if got := img.Bounds().Size(); got.X != wantW || got.Y != wantH {
		t.Errorf("PNG is %v, want %dx%d", got, wantW, wantH)
	}
	return img
}

// checkSVG parses a rendered SVG and returns its root element's name and
// how many elements it has.
func checkSVG(t *testing.T, b []byte) int {
	t.Helper()
	dec := xml.NewDecoder(bytes.NewReader(b))
	root, n := "", 0
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("SVG does not parse: %v", err)
		}
		if se, ok := tok.(xml.StartElement); ok {
			if root == "" {
				root = se.Name.Local
			}
			n++
		}
	}
	if root != "svg" {
		t.Errorf("SVG root is %q", root)
	}
	return n
}

// pixels counts the pixels of exactly colour c.
func pixels(img image.Image, c color.RGBA) int {
	n := 0
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			r, g, bl, a := img.At(x, y).RGBA()
			if uint8(r>>8) == c.R && uint8(g>>8) == c.G && uint8(bl>>8) == c.B && uint8(a>>8) == c.A {
				n++
			}
		}
	}
	return n
}

var (
	criticalColor = color.RGBA{R: 110, G: 0, B: 40, A: 255}
	forecastColor = color.RGBA{R: 117, G: 60, B: 168, A: 255}
)

func TestAssetChart(t *testing.T) {
	db, _ := testenv.DB(t)
	plant(t, db)
	ctx := context.Background()

	d, err := report.LoadAssetData(ctx, db, "acme", "mill-1", window)
	if err != nil {
		t.Fatal(err)
	}
	if len(d.Sensors) != 2 || d.Sensors[0].SensorID != "speed" || d.Sensors[1].SensorID != "torque" || d.Name != "MILL-1" {
		t.Fatalf("sensors = %+v", d.Sensors)
	}
	speed, torque := d.Sensors[0], d.Sensors[1]
	if torque.Step != time.Hour || len(torque.Buckets) != 336 || len(torque.Points) != 0 {
		t.Errorf("torque over two weeks: step %s, %d buckets, %d points; want the hourly rollup, 336 buckets", torque.Step, len(torque.Buckets), len(torque.Points))
	}
	if len(torque.Anomalies) != 2 || torque.Anomalies[0].Severity != "major" || torque.Anomalies[1].Severity != "critical" {
		t.Errorf("torque anomalies = %+v", torque.Anomalies)
	}
	if *torque.AlarmHigh != 70 || *torque.WarnHigh != 60 {
		t.Errorf("torque limits = %v %v", torque.WarnHigh, torque.AlarmHigh)
	}
	if len(speed.Forecasts) != 1 {
		t.Fatalf("speed forecasts = %+v, want incident i4's", speed.Forecasts)
	}
	f := speed.Forecasts[0]
	first, last := f.Points[0], f.Points[len(f.Points)-1]
	forecastAt := t0.Add(8*day + 30*time.Minute)
	if !first.TS.Equal(forecastAt) || f.Limit != 57 || f.Level != 0.9 || last.Mean < 57 || !last.TS.After(first.TS) {
		t.Errorf("forecast from %s (%g) to %s (%g), limit %g: want it from the forecast's time up to the limit",
			first.TS, first.Mean, last.TS, last.Mean, f.Limit)
	}
	for _, p := range f.Points {
		if p.Lower > p.Mean || p.Mean > p.Upper {
			t.Fatalf("forecast point %+v is outside its interval", p)
		}
	}
	if len(d.Sensors[0].Forecasts[0].Points) > 302 {
		t.Errorf("forecast has %d points; drawn forecasts are thinned to about 300", len(f.Points))
	}

	c := report.AssetChart(d)
	if c.Name != "asset.mill-1" || len(c.Panels) != 2 {
		t.Fatalf("chart %s with %d panels", c.Name, len(c.Panels))
	}
	out, err := c.RenderAll()
	if err != nil {
		t.Fatal(err)
	}
	img := decodePNG(t, out[0].Content, 960, 2*288)
	if n := pixels(img, criticalColor); n < 5 {
		t.Errorf("%d pixels of the critical anomaly colour; the critical anomaly is not marked", n)
	}
	if n := pixels(img, forecastColor); n < 20 {
		t.Errorf("%d pixels of the forecast colour; the forecast line is missing", n)
	}
	if n := checkSVG(t, out[1].Content); out[1].Format != report.SVG || n < 50 {
		t.Errorf("SVG has %d elements", n)
	}
	again, err := report.AssetChart(d).RenderAll()
	if err != nil {
		t.Fatal(err)
	}
	for i := range out {
		if !bytes.Equal(out[i].Content, again[i].Content) {
			t.Errorf("%s: two renderings of the same data differ", out[i].Format)
		}
	}

	// pump-2 has no anomaly of that colour and no forecast.
	d2, err := report.LoadAssetData(ctx, db, "acme", "pump-2", window)
	if err != nil {
		t.Fatal(err)
	}
	b, err := report.AssetChart(d2).Render(report.PNG)
	if err != nil {
		t.Fatal(err)
	}
	img2 := decodePNG(t, b, 960, 288)
	if pixels(img2, criticalColor) != 0 || pixels(img2, forecastColor) != 0 {
		t.Errorf("pump-2's chart shows a critical anomaly or a forecast it does not have")
	}

	if _, err := report.LoadAssetData(ctx, db, "rival", "pump-2", window); err == nil {
		t.Errorf("rival loaded acme's pump-2")
	}
}

// TestAssetChartEmpty: sensors without readings, limits or anomalies, and
// assets without sensors, still render.
func TestAssetChartEmpty(t *testing.T) {
	tests := []report.AssetData{
		{AssetID: "quiet", Window: window, Sensors: []report.SensorData{{SensorID: "temp", Unit: "K"}}},
		{AssetID: "limits-only", Window: window, Sensors: []report.SensorData{{SensorID: "temp", AlarmHigh: ptr(90.0)}}},
		{AssetID: "bare", Window: window},
	}
	for _, d := range tests {
		done := make(chan error, 1)
		go func() {
			_, err := report.AssetChart(d).RenderAll()
			done <- err
		}()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("%s: %v", d.AssetID, err)
			}
		case <-time.After(20 * time.Second):
			t.Fatalf("%s: rendering does not finish", d.AssetID)
		}
	}
}

func TestAssetChartRawReadings(t *testing.T) {
	db, _ := testenv.DB(t)
	plant(t, db)
	w := report.Window{From: t0.Add(8*day - 6*time.Hour), To: t0.Add(8 * day)}
	d, err := report.LoadAssetData(context.Background(), db, "acme", "mill-1", w)
	if err != nil {
		t.Fatal(err)
	}
	speed := d.Sensors[0]
	if speed.Step != 0 || len(speed.Points) != 269 || len(speed.Buckets) != 0 {
		t.Errorf("speed over 6 hours: step %s, %d points, %d buckets; want 269 raw readings", speed.Step, len(speed.Points), len(speed.Buckets))
	}
	if b, err := report.AssetChart(d).Render(report.SVG); err != nil || checkSVG(t, b) == 0 {
		t.Errorf("render: %v", err)
	}
}

func TestSummaryCharts(t *testing.T) {
	db, _ := testenv.DB(t)
	plant(t, db)
	r, err := report.Compute(context.Background(), db, "acme", report.Query{Window: window})
	if err != nil {
		t.Fatal(err)
	}
	charts := report.SummaryCharts(r)
	if len(charts) != 2 || charts[0].Name != report.IncidentsChartName || charts[1].Name != "model.iforest-mill" {
		t.Fatalf("charts = %v", charts)
	}
	for _, c := range charts {
		out, err := c.RenderAll()
		if err != nil {
			t.Fatal(err)
		}
		decodePNG(t, out[0].Content, 768, 384)
		checkSVG(t, out[1].Content)
	}
	// An empty report still charts its weeks.
	empty := &report.Report{Window: window, IncidentsByWeek: []report.WeekIncidents{{Start: t0, Counts: map[string]int{}}}}
	for _, c := range report.SummaryCharts(empty) {
		if _, err := c.Render(report.PNG); err != nil {
			t.Errorf("%s: %v", c.Name, err)
		}
	}
}

func TestForecast(t *testing.T) {
	start := t0
	rising := make([]store.Point, 60)
	for i := range rising {
		rising[i] = store.Point{TS: start.Add(time.Duration(i) * time.Minute), Value: 10 + float64(i)*0.5 + 0.2*float64(i%2)}
	}
	flat := make([]store.Point, 60)
	for i := range flat {
		flat[i] = store.Point{TS: start.Add(time.Duration(i) * time.Minute), Value: 10 + 0.2*float64(i%2)}
	}
	tests := []struct {
		name        string
		pts         []store.Point
		limit       float64
		ahead       time.Duration
		ok, reaches bool
	}{
		{"rising to the limit", rising, 60, 24 * time.Hour, true, true},
		{"flat never reaches it", flat, 60, 3 * time.Hour, true, false},
		{"too few readings", rising[:7], 60, time.Hour, false, false},
		{"horizon under a step", rising, 60, time.Second, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			band, ok := report.Forecast(tt.pts, tt.limit, 0.9, tt.ahead)
			if ok != tt.ok {
				t.Fatalf("ok = %v, want %v", ok, tt.ok)
			}
			if !ok {
				return
			}
			first, last := band.Points[0], band.Points[len(band.Points)-1]
			if !first.TS.Equal(tt.pts[len(tt.pts)-1].TS) || first.Mean != tt.pts[len(tt.pts)-1].Value {
				t.Errorf("band starts at %+v, want the last reading", first)
			}
			if reached := last.Mean >= tt.limit; reached != tt.reaches {
				t.Errorf("band ends at %g (limit %g)", last.Mean, tt.limit)
			}
			if !tt.reaches && last.TS.Sub(first.TS) != tt.ahead {
				t.Errorf("band reaches %s ahead, want the whole %s", last.TS.Sub(first.TS), tt.ahead)
			}
			if len(band.Points) > 302 {
				t.Errorf("%d points", len(band.Points))
			}
		})
	}
}

func TestBucketStep(t *testing.T) {
	tests := []struct {
		window time.Duration
		want   time.Duration
	}{
		{time.Hour, 0},
		{48 * time.Hour, 0},
		{49 * time.Hour, time.Hour},
		{30 * day, time.Hour},
		{62 * day, time.Hour},
		{63 * day, 2 * time.Hour},
		{365 * day, 6 * time.Hour},
	}
	for _, tt := range tests {
		if got := report.BucketStep(report.Window{From: t0, To: t0.Add(tt.window)}); got != tt.want {
			t.Errorf("BucketStep(%s) = %s, want %s", tt.window, got, tt.want)
		}
	}
}

func TestParseFormat(t *testing.T) {
	for s, want := range map[string]bool{"png": true, "svg": true, "PNG": false, "pdf": false, "": false} {
		if _, ok := report.ParseFormat(s); ok != want {
			t.Errorf("ParseFormat(%q) ok = %v", s, ok)
		}
	}
	if report.SVG.ContentType() != "image/svg+xml" || report.PNG.ContentType() != "image/png" {
		t.Errorf("content types")
	}
}
