package backtest

import (
	"bytes"
	"fmt"
	"image/color"
	"image/png"
	"io"
	"math"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
)

// Chart is one panel: series of a score or health index against time (or
// cycles), an optional alarm threshold, and vertical markers where alarms
// were raised and where the failure happened.
type Chart struct {
	// Name identifies the chart in file names, for example "ims-2nd_test-b1".
	Name   string
	Title  string
	XLabel string
	YLabel string
	Series []Series
	// Threshold draws a dashed horizontal line; NaN or 0 with HasThreshold
	// false draws none.
	Threshold    float64
	HasThreshold bool
	// Alarms and Failures are X positions of vertical markers.
	Alarms   []float64
	Failures []float64
}

// Series is one line of a chart.
type Series struct {
	Name string
	X, Y []float64
}

var (
	colorAlarm   = color.RGBA{R: 200, G: 30, B: 30, A: 255}
	colorFailure = color.RGBA{R: 20, G: 20, B: 20, A: 255}
	colorThresh  = color.RGBA{R: 230, G: 150, B: 0, A: 255}
	lineColors   = []color.Color{
		color.RGBA{R: 31, G: 119, B: 180, A: 255}, color.RGBA{R: 255, G: 127, B: 14, A: 255},
		color.RGBA{R: 44, G: 160, B: 44, A: 255}, color.RGBA{R: 148, G: 103, B: 189, A: 255},
	}
)

// WritePNG draws the chart as a 960×360 PNG.
func (c *Chart) WritePNG(w io.Writer) error {
	p := plot.New()
	p.Title.Text = c.Title
	p.X.Label.Text = c.XLabel
	p.Y.Label.Text = c.YLabel
	p.Legend.Top = true
	p.Legend.TextStyle.Font.Size = vg.Points(8)
	p.Add(plotter.NewGrid())
	lo, hi := math.Inf(1), math.Inf(-1)
	for i, s := range c.Series {
		if len(s.X) != len(s.Y) {
			return fmt.Errorf("backtest: chart %s: series %q has %d x and %d y", c.Name, s.Name, len(s.X), len(s.Y))
		}
		xys := make(plotter.XYs, 0, len(s.X))
		for j := range s.X {
			if math.IsNaN(s.Y[j]) || math.IsInf(s.Y[j], 0) {
				continue
			}
			xys = append(xys, plotter.XY{X: s.X[j], Y: s.Y[j]})
			lo, hi = math.Min(lo, s.Y[j]), math.Max(hi, s.Y[j])
		}
		if len(xys) == 0 {
			continue
		}
		l, err := plotter.NewLine(xys)
		if err != nil {
			return fmt.Errorf("backtest: chart %s: %w", c.Name, err)
		}
		l.Color = lineColors[i%len(lineColors)]
		l.Width = vg.Points(1)
		p.Add(l)
		p.Legend.Add(s.Name, l)
	}
	if c.HasThreshold && !math.IsNaN(c.Threshold) {
		lo, hi = math.Min(lo, c.Threshold), math.Max(hi, c.Threshold)
	}
	if math.IsInf(lo, 0) {
		lo, hi = 0, 1
	}
	if hi <= lo {
		hi = lo + 1
	}
	hi += (hi - lo) * 0.15 // room for the legend
	p.Y.Min, p.Y.Max = lo, hi
	if c.HasThreshold && !math.IsNaN(c.Threshold) {
		addLine(p, "threshold", plotter.XYs{{X: p.X.Min, Y: c.Threshold}, {X: p.X.Max, Y: c.Threshold}}, colorThresh, true)
	}
	for i, x := range c.Alarms {
		name := ""
		if i == 0 {
			name = "alarm"
		}
		addLine(p, name, plotter.XYs{{X: x, Y: lo}, {X: x, Y: hi}}, colorAlarm, true)
	}
	for i, x := range c.Failures {
		name := ""
		if i == 0 {
			name = "failure"
		}
		addLine(p, name, plotter.XYs{{X: x, Y: lo}, {X: x, Y: hi}}, colorFailure, false)
	}
	canvas := vgimg.NewWith(vgimg.UseWH(10*vg.Inch, 3.75*vg.Inch), vgimg.UseDPI(96), vgimg.UseBackgroundColor(color.White))
	p.Draw(draw.New(canvas))
	var buf bytes.Buffer
	if err := (&png.Encoder{CompressionLevel: png.BestSpeed}).Encode(&buf, canvas.Image()); err != nil {
		return fmt.Errorf("backtest: chart %s: %w", c.Name, err)
	}
	_, err := w.Write(buf.Bytes())
	return err
}

func addLine(p *plot.Plot, name string, xys plotter.XYs, c color.Color, dashed bool) {
	l, err := plotter.NewLine(xys)
	if err != nil {
		return // two finite points never fail
	}
	l.Color = c
	l.Width = vg.Points(1)
	if dashed {
		l.Dashes = []vg.Length{vg.Points(4), vg.Points(3)}
	}
	p.Add(l)
	if name != "" {
		p.Legend.Add(name, l)
	}
}
