package report

import (
	"bytes"
	"fmt"
	"image/color"
	"image/png"
	"io"
	"math"
	"slices"
	"time"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
	"gonum.org/v1/plot/vg/vgsvg"

	"github.com/smartmaint/smartmaint/internal/anomaly"
	"github.com/smartmaint/smartmaint/internal/incident"
	"github.com/smartmaint/smartmaint/internal/store"
)

// Format is a chart file format.
type Format string

// The chart formats.
const (
	PNG Format = "png"
	SVG Format = "svg"
)

// Formats lists the formats every chart is rendered in.
var Formats = []Format{PNG, SVG}

// ParseFormat returns the format named s ("png" or "svg").
func ParseFormat(s string) (Format, bool) {
	f := Format(s)
	return f, slices.Contains(Formats, f)
}

// ContentType is the format's media type.
func (f Format) ContentType() string {
	if f == SVG {
		return "image/svg+xml"
	}
	return "image/png"
}

// Chart names.
const IncidentsChartName = "incidents-by-week"

// AssetChartName names the chart of an asset's readings.
func AssetChartName(assetID string) string { return "asset." + assetID }

// ModelChartName names the chart of a model's metrics.
func ModelChartName(model string) string { return "model." + model }

// Chart is a figure of one or more panels stacked vertically, with their
// time axes aligned.
type Chart struct {
	Name   string
	Panels []*plot.Plot
	// Width and PanelHeight size the figure (72 points an inch; PNGs are
	// rendered at 96 dpi).
	Width, PanelHeight vg.Length
}

// Size is the figure's size.
func (c *Chart) Size() (w, h vg.Length) {
	return c.Width, c.PanelHeight * vg.Length(max(len(c.Panels), 1))
}

// Render draws the chart in format f. The output depends only on the data:
// gonum/plot carries its own fonts.
func (c *Chart) Render(f Format) ([]byte, error) {
	w, h := c.Size()
	var canvas vg.CanvasWriterTo
	switch f {
	case PNG:
		canvas = fastPNG{vgimg.NewWith(vgimg.UseWH(w, h), vgimg.UseDPI(96), vgimg.UseBackgroundColor(color.White))}
	case SVG:
		canvas = vgsvg.New(w, h)
	default:
		return nil, fmt.Errorf("report: unknown chart format %q", f)
	}
	dc := draw.New(canvas)
	dc.FillPolygon(color.White, []vg.Point{{X: 0, Y: 0}, {X: w, Y: 0}, {X: w, Y: h}, {X: 0, Y: h}})
	if len(c.Panels) > 0 {
		grid := make([][]*plot.Plot, len(c.Panels))
		for i, p := range c.Panels {
			grid[i] = []*plot.Plot{p}
		}
		tiles := draw.Tiles{Rows: len(c.Panels), Cols: 1, PadY: vg.Points(8), PadTop: vg.Points(4), PadRight: vg.Points(18), PadLeft: vg.Points(2), PadBottom: vg.Points(2)}
		for i, row := range plot.Align(grid, tiles, dc) {
			c.Panels[i].Draw(row[0])
		}
	}
	var buf bytes.Buffer
	if _, err := canvas.WriteTo(&buf); err != nil {
		return nil, fmt.Errorf("report: render %s as %s: %w", c.Name, f, err)
	}
	return buf.Bytes(), nil
}

// fastPNG encodes a canvas with the fastest compression: charts are
// mostly flat colour, so files grow little while encoding, which took as
// long as drawing, gets several times faster.
type fastPNG struct{ *vgimg.Canvas }

// WriteTo implements io.WriterTo.
func (c fastPNG) WriteTo(w io.Writer) (int64, error) {
	cw := &countingWriter{w: w}
	err := (&png.Encoder{CompressionLevel: png.BestSpeed}).Encode(cw, c.Image())
	return cw.n, err
}

type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// RenderAll renders c in every format.
func (c *Chart) RenderAll() ([]Rendered, error) {
	out := make([]Rendered, 0, len(Formats))
	for _, f := range Formats {
		b, err := c.Render(f)
		if err != nil {
			return nil, err
		}
		out = append(out, Rendered{Name: c.Name, Format: f, Content: b})
	}
	return out, nil
}

// Colours of the charts.
var (
	colorMean     = color.RGBA{R: 31, G: 119, B: 180, A: 255}
	colorBand     = color.NRGBA{R: 31, G: 119, B: 180, A: 60}
	colorForecast = color.RGBA{R: 117, G: 60, B: 168, A: 255}
	colorInterval = color.NRGBA{R: 117, G: 60, B: 168, A: 55}
	colorAlarm    = color.RGBA{R: 200, G: 30, B: 30, A: 255}
	colorWarn     = color.RGBA{R: 230, G: 150, B: 0, A: 255}
	colorMarker   = color.RGBA{R: 90, G: 90, B: 90, A: 255}

	// severityColors colour anomalies, least severe first.
	severityColors = []struct {
		name  anomaly.Severity
		color color.Color
	}{
		{anomaly.Warning, color.RGBA{R: 240, G: 200, B: 0, A: 255}},
		{anomaly.Minor, color.RGBA{R: 255, G: 127, B: 0, A: 255}},
		{anomaly.Major, color.RGBA{R: 228, G: 26, B: 28, A: 255}},
		{anomaly.Critical, color.RGBA{R: 110, G: 0, B: 40, A: 255}},
	}

	stateColors = map[string]color.Color{
		string(incident.ResolutionResolved):      color.RGBA{R: 77, G: 175, B: 74, A: 255},
		string(incident.ResolutionCancelled):     color.RGBA{R: 153, G: 153, B: 153, A: 255},
		string(incident.ResolutionRejected):      color.RGBA{R: 228, G: 26, B: 28, A: 255},
		string(incident.ResolutionFalsePositive): color.RGBA{R: 251, G: 154, B: 153, A: 255},
		string(incident.ResolutionBelowPolicy):   color.RGBA{R: 204, G: 204, B: 204, A: 255},
		StateOpen:                                color.RGBA{R: 55, G: 126, B: 184, A: 255},
	}

	metricColors = []color.Color{
		color.RGBA{R: 31, G: 119, B: 180, A: 255}, color.RGBA{R: 255, G: 127, B: 14, A: 255},
		color.RGBA{R: 44, G: 160, B: 44, A: 255}, color.RGBA{R: 214, G: 39, B: 40, A: 255},
		color.RGBA{R: 148, G: 103, B: 189, A: 255}, color.RGBA{R: 140, G: 86, B: 75, A: 255},
	}
)

// newPanel returns a plot with the report's common style.
func newPanel(title string) *plot.Plot {
	p := plot.New()
	p.Title.Text = title
	p.Title.TextStyle.Font.Size = vg.Points(11)
	p.Legend.Top = true
	p.Legend.TextStyle.Font.Size = vg.Points(8)
	p.Legend.ThumbnailWidth = vg.Points(14)
	p.Legend.Padding = vg.Points(1)
	p.Add(plotter.NewGrid())
	return p
}

// padTop widens the Y range upwards by a quarter so the legend sits above
// the data, gives a flat range some height and an empty panel the range
// [0, 1] (an infinite range would never finish placing ticks).
func padTop(p *plot.Plot) {
	lo, hi := p.Y.Min, p.Y.Max
	if math.IsInf(lo, 0) || math.IsInf(hi, 0) || math.IsNaN(lo) || math.IsNaN(hi) {
		lo, hi = 0, 1 // nothing drawn
	}
	if hi <= lo {
		d := math.Max(math.Abs(hi)*0.1, 1)
		lo, hi = lo-d, hi+d
	}
	p.Y.Min, p.Y.Max = lo, hi+(hi-lo)*0.25
}

func unix(t time.Time) float64 { return float64(t.UnixNano()) / 1e9 }

func hline(y, x0, x1 float64, c color.Color, dashes ...vg.Length) *plotter.Line {
	l, _ := plotter.NewLine(plotter.XYs{{X: x0, Y: y}, {X: x1, Y: y}})
	l.Color, l.Width, l.Dashes = c, vg.Points(1), dashes
	return l
}

// AssetData is what an asset's chart shows: per sensor, its readings (the
// hourly rollup's mean with its min–max band, or raw readings for short
// windows), its warning and alarm limits, the anomalies detected and the
// failure forecasts of the asset's incidents.
type AssetData struct {
	AssetID string
	Name    string
	Window  Window
	Sensors []SensorData
}

// SensorData is one panel of an asset chart.
type SensorData struct {
	SensorID string
	Unit     string
	// Buckets (aggregated) or Points (raw) are the readings.
	Buckets                                []store.Bucket
	Step                                   time.Duration
	Points                                 []store.Point
	WarnLow, WarnHigh, AlarmLow, AlarmHigh *float64
	Anomalies                              []AnomalyPoint
	Forecasts                              []ForecastBand
}

// AnomalyPoint is a detected anomaly.
type AnomalyPoint struct {
	TS       time.Time
	Value    float64
	Severity string
}

// ForecastBand is an incident's failure forecast: the expected course of
// the sensor from the forecast's time until it reaches Limit, with the
// prediction interval at Level.
type ForecastBand struct {
	IncidentID string
	At         time.Time
	Limit      float64
	Level      float64
	Points     []BandPoint
}

// BandPoint is a forecast step.
type BandPoint struct {
	TS                 time.Time
	Mean, Lower, Upper float64
}

// AssetChart draws d, one panel per sensor.
func AssetChart(d AssetData) *Chart {
	c := &Chart{Name: AssetChartName(d.AssetID), Width: 10 * vg.Inch, PanelHeight: 3 * vg.Inch}
	x0, x1 := unix(d.Window.From), unix(d.Window.To)
	for _, s := range d.Sensors {
		for _, f := range s.Forecasts {
			if n := len(f.Points); n > 0 {
				x1 = math.Max(x1, unix(f.Points[n-1].TS))
			}
		}
	}
	for _, s := range d.Sensors {
		c.Panels = append(c.Panels, sensorPanel(d, s, x0, x1))
	}
	if len(c.Panels) == 0 {
		p := newPanel(d.AssetID + ": no sensors")
		p.X.Min, p.X.Max = x0, x1
		p.X.Tick.Marker = timeTicks{}
		c.Panels = append(c.Panels, p)
	}
	return c
}

func sensorPanel(d AssetData, s SensorData, x0, x1 float64) *plot.Plot {
	title := d.AssetID + " · " + s.SensorID
	if s.Unit != "" {
		title += " (" + s.Unit + ")"
	}
	p := newPanel(title)
	p.Y.Label.Text = s.Unit
	p.X.Tick.Marker = timeTicks{}
	switch {
	case len(s.Buckets) > 0:
		for _, run := range bucketRuns(s.Buckets, s.Step) {
			band := make(plotter.XYs, 0, 2*len(run))
			mean := make(plotter.XYs, len(run))
			for i, b := range run {
				band = append(band, plotter.XY{X: unix(b.TS), Y: b.Min})
				mean[i] = plotter.XY{X: unix(b.TS), Y: b.Mean}
			}
			for i := len(run) - 1; i >= 0; i-- {
				band = append(band, plotter.XY{X: unix(run[i].TS), Y: run[i].Max})
			}
			poly, _ := plotter.NewPolygon(band)
			poly.Color, poly.LineStyle.Width = colorBand, 0
			line, _ := plotter.NewLine(mean)
			line.Color, line.Width = colorMean, vg.Points(1)
			p.Add(poly, line)
		}
		proto, _ := plotter.NewLine(plotter.XYs{})
		proto.Color, proto.Width = colorMean, vg.Points(1)
		band, _ := plotter.NewPolygon(plotter.XYs{})
		band.Color, band.LineStyle.Width = colorBand, 0
		p.Legend.Add(fmt.Sprintf("%s mean, min–max", bucketLabel(s.Step)), band, proto)
	case len(s.Points) > 0:
		xys := make(plotter.XYs, len(s.Points))
		for i, pt := range s.Points {
			xys[i] = plotter.XY{X: unix(pt.TS), Y: pt.Value}
		}
		line, _ := plotter.NewLine(xys)
		line.Color, line.Width = colorMean, vg.Points(1)
		p.Add(line)
		p.Legend.Add("readings", line)
	}
	for _, f := range s.Forecasts {
		if len(f.Points) == 0 {
			continue
		}
		band := make(plotter.XYs, 0, 2*len(f.Points))
		mean := make(plotter.XYs, len(f.Points))
		for i, b := range f.Points {
			band = append(band, plotter.XY{X: unix(b.TS), Y: b.Lower})
			mean[i] = plotter.XY{X: unix(b.TS), Y: b.Mean}
		}
		for i := len(f.Points) - 1; i >= 0; i-- {
			band = append(band, plotter.XY{X: unix(f.Points[i].TS), Y: f.Points[i].Upper})
		}
		poly, _ := plotter.NewPolygon(band)
		poly.Color, poly.LineStyle.Width = colorInterval, 0
		line, _ := plotter.NewLine(mean)
		line.Color, line.Width, line.Dashes = colorForecast, vg.Points(1.5), []vg.Length{vg.Points(4), vg.Points(2)}
		p.Add(poly, line)
	}
	if len(s.Forecasts) > 0 {
		f := s.Forecasts[0]
		band, _ := plotter.NewPolygon(plotter.XYs{})
		band.Color, band.LineStyle.Width = colorInterval, 0
		line, _ := plotter.NewLine(plotter.XYs{})
		line.Color, line.Width, line.Dashes = colorForecast, vg.Points(1.5), []vg.Length{vg.Points(4), vg.Points(2)}
		p.Legend.Add(fmt.Sprintf("forecast, %.0f%% interval", 100*f.Level), band, line)
	}
	limits := []struct {
		v      *float64
		c      color.Color
		name   string
		dashes []vg.Length
	}{
		{s.AlarmHigh, colorAlarm, "alarm limit", []vg.Length{vg.Points(5), vg.Points(3)}},
		{s.AlarmLow, colorAlarm, "alarm limit", []vg.Length{vg.Points(5), vg.Points(3)}},
		{s.WarnHigh, colorWarn, "warning limit", []vg.Length{vg.Points(2), vg.Points(2)}},
		{s.WarnLow, colorWarn, "warning limit", []vg.Length{vg.Points(2), vg.Points(2)}},
	}
	named := map[string]bool{}
	for _, l := range limits {
		if l.v == nil {
			continue
		}
		line := hline(*l.v, x0, x1, l.c, l.dashes...)
		p.Add(line)
		if !named[l.name] {
			p.Legend.Add(l.name, line)
			named[l.name] = true
		}
	}
	for _, sev := range severityColors {
		var xys plotter.XYs
		for _, a := range s.Anomalies {
			if anomaly.Severity(a.Severity) == sev.name {
				xys = append(xys, plotter.XY{X: unix(a.TS), Y: a.Value})
			}
		}
		if len(xys) == 0 {
			continue
		}
		sc, _ := plotter.NewScatter(xys)
		sc.GlyphStyle = draw.GlyphStyle{Color: sev.color, Radius: vg.Points(2.5), Shape: draw.CircleGlyph{}}
		p.Add(sc)
		p.Legend.Add("anomaly: "+string(sev.name), sc)
	}
	p.X.Min, p.X.Max = x0, x1
	padTop(p)
	return p
}

// bucketRuns splits buckets where more than two steps are missing, so the
// band does not bridge gaps in the data.
func bucketRuns(bs []store.Bucket, step time.Duration) [][]store.Bucket {
	if step <= 0 {
		step = time.Hour
	}
	var runs [][]store.Bucket
	start := 0
	for i := 1; i <= len(bs); i++ {
		if i == len(bs) || bs[i].TS.Sub(bs[i-1].TS) > 2*step {
			runs = append(runs, bs[start:i])
			start = i
		}
	}
	return runs
}

func bucketLabel(step time.Duration) string {
	switch {
	case step == time.Hour:
		return "hourly"
	case step == 24*time.Hour:
		return "daily"
	case step%time.Hour == 0:
		return fmt.Sprintf("%d-hour", step/time.Hour)
	}
	return step.String()
}

// IncidentsChart draws the incidents opened per week as bars stacked by
// state.
func IncidentsChart(weeks []WeekIncidents) *Chart {
	p := newPanel("Incidents opened per week, by state")
	p.Y.Label.Text = "incidents"
	labels := make([]string, len(weeks))
	totals := make([]float64, len(weeks))
	for i, w := range weeks {
		labels[i] = w.Start.UTC().Format("Jan 02")
	}
	width := vg.Points(math.Max(6, math.Min(40, 480/float64(max(len(weeks), 1)))))
	var below *plotter.BarChart
	for _, state := range IncidentStates {
		values := make(plotter.Values, len(weeks))
		any := false
		for i, w := range weeks {
			values[i] = float64(w.Counts[state])
			totals[i] += values[i]
			any = any || values[i] > 0
		}
		if !any {
			continue
		}
		bars, _ := plotter.NewBarChart(values, width)
		bars.Color, bars.LineStyle.Width = stateColors[state], 0
		if below != nil {
			bars.StackOn(below)
		}
		below = bars
		p.Add(bars)
		p.Legend.Add(state, bars)
	}
	if len(labels) > 0 {
		p.NominalX(labels...)
	}
	p.X.Min, p.X.Max = -0.5, float64(len(labels))-0.5
	p.Y.Min, p.Y.Max = 0, math.Max(slices.Max(append(totals, 1)), 1)
	padTop(p)
	p.Y.Min = 0
	p.Y.Tick.Marker = integerTicks{}
	return &Chart{Name: IncidentsChartName, Panels: []*plot.Plot{p}, Width: 8 * vg.Inch, PanelHeight: 4 * vg.Inch}
}

// ModelChart draws each metric of a model's versions over time, with the
// champion's moves as vertical lines.
func ModelChart(m ModelHistory, w Window) *Chart {
	p := newPanel("Model " + m.Name + ": metrics per version")
	p.X.Tick.Marker = timeTicks{}
	x0, x1 := unix(w.From), unix(w.To)
	var names []string
	for _, v := range m.Versions {
		x0 = math.Min(x0, unix(v.CreatedAt))
		for k := range v.Metrics {
			if !slices.Contains(names, k) {
				names = append(names, k)
			}
		}
	}
	slices.Sort(names)
	lo, hi := math.Inf(1), math.Inf(-1)
	for i, name := range names {
		var xys plotter.XYs
		var labels []string
		for _, v := range m.Versions {
			if val, ok := v.Metrics[name]; ok {
				xys = append(xys, plotter.XY{X: unix(v.CreatedAt), Y: val})
				labels = append(labels, fmt.Sprintf("v%d", v.Version))
				lo, hi = math.Min(lo, val), math.Max(hi, val)
			}
		}
		line, points, _ := plotter.NewLinePoints(xys)
		col := metricColors[i%len(metricColors)]
		line.Color, line.Width = col, vg.Points(1.2)
		points.GlyphStyle = draw.GlyphStyle{Color: col, Radius: vg.Points(2.5), Shape: draw.CircleGlyph{}}
		p.Add(line, points)
		p.Legend.Add(name, line, points)
		if i == 0 {
			lbl, _ := plotter.NewLabels(plotter.XYLabels{XYs: xys, Labels: labels})
			lbl.Offset = vg.Point{X: vg.Points(3), Y: vg.Points(3)}
			for j := range lbl.TextStyle {
				lbl.TextStyle[j].Font.Size = vg.Points(7)
			}
			p.Add(lbl)
		}
	}
	if math.IsInf(lo, 1) {
		lo, hi = 0, 1
	}
	var moves plotter.XYs
	var moveLabels []string
	for _, e := range m.AliasEvents {
		if e.Alias != "champion" || e.To == 0 {
			continue
		}
		x := unix(e.At)
		x0 = math.Min(x0, x)
		l, _ := plotter.NewLine(plotter.XYs{{X: x, Y: lo}, {X: x, Y: hi}})
		l.Color, l.Width, l.Dashes = colorMarker, vg.Points(0.8), []vg.Length{vg.Points(3), vg.Points(3)}
		p.Add(l)
		moves = append(moves, plotter.XY{X: x, Y: hi})
		moveLabels = append(moveLabels, fmt.Sprintf("champion v%d", e.To))
	}
	if len(moves) > 0 {
		lbl, _ := plotter.NewLabels(plotter.XYLabels{XYs: moves, Labels: moveLabels})
		lbl.Offset = vg.Point{X: vg.Points(2), Y: vg.Points(2)}
		for j := range lbl.TextStyle {
			lbl.TextStyle[j].Font.Size = vg.Points(7)
			lbl.TextStyle[j].Color = colorMarker
		}
		p.Add(lbl)
	}
	p.X.Min, p.X.Max = x0-(x1-x0)*0.02, x1
	p.Y.Min, p.Y.Max = lo, hi
	if hi > lo {
		p.Y.Min, p.Y.Max = lo-(hi-lo)*0.1, hi+(hi-lo)*0.1
	}
	padTop(p)
	return &Chart{Name: ModelChartName(m.Name), Panels: []*plot.Plot{p}, Width: 8 * vg.Inch, PanelHeight: 4 * vg.Inch}
}

// SummaryCharts are the charts of a report that need only its document:
// incidents by week and one per model.
func SummaryCharts(r *Report) []*Chart {
	out := []*Chart{IncidentsChart(r.IncidentsByWeek)}
	for _, m := range r.Models {
		if len(m.Versions) > 0 {
			out = append(out, ModelChart(m, r.Window))
		}
	}
	return out
}

// timeTicks puts ticks on round UTC times: minutes, hours, days or weeks
// (Mondays), about six of them.
type timeTicks struct{}

var tickSteps = []time.Duration{
	time.Minute, 5 * time.Minute, 15 * time.Minute, 30 * time.Minute, time.Hour, 3 * time.Hour, 6 * time.Hour,
	12 * time.Hour, 24 * time.Hour, 2 * 24 * time.Hour, 7 * 24 * time.Hour, 14 * 24 * time.Hour, 28 * 24 * time.Hour,
}

// Ticks implements plot.Ticker.
func (timeTicks) Ticks(lo, hi float64) []plot.Tick {
	span := time.Duration((hi - lo) * 1e9)
	step := tickSteps[len(tickSteps)-1]
	for _, s := range tickSteps {
		if span/s <= 7 {
			step = s
			break
		}
	}
	format := "15:04"
	switch {
	case step >= 24*time.Hour:
		format = "Jan 02"
	case span > 24*time.Hour:
		format = "Jan 02\n15:04"
	}
	// Weekly steps start on Mondays: the Unix epoch was a Thursday.
	var offset float64
	if step >= 7*24*time.Hour {
		offset = 4 * 24 * 3600
	}
	sec := step.Seconds()
	var ticks []plot.Tick
	for t := math.Ceil((lo-offset)/sec)*sec + offset; t <= hi; t += sec {
		ticks = append(ticks, plot.Tick{Value: t, Label: time.Unix(int64(t), 0).UTC().Format(format)})
	}
	return ticks
}

// integerTicks labels whole numbers only.
type integerTicks struct{}

// Ticks implements plot.Ticker.
func (integerTicks) Ticks(lo, hi float64) []plot.Tick {
	var out []plot.Tick
	for _, t := range (plot.DefaultTicks{}).Ticks(lo, hi) {
		if t.Label != "" && t.Value != math.Trunc(t.Value) {
			continue
		}
		out = append(out, t)
	}
	return out
}
