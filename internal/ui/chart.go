package ui

import (
	"fmt"
	"html/template"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/smartmaint/smartmaint/internal/store"
)

// chart is an incident's evidence: the sensor's readings around the
// incident, its anomalous readings and its limits.
type chart struct {
	// ID makes the SVG's element ids unique on the page.
	ID     string
	Sensor string
	Unit   string
	// Points are the readings, or the bucket means when Bands is set.
	Points []store.Point
	// Bands are min/max buckets when there were too many readings to draw.
	Bands     []store.Bucket
	Anomalies []store.Point
	Limits    []limit
	From, To  time.Time
}

// limit is a horizontal line: a sensor's warning or alarm limit.
type limit struct {
	Label string
	Value float64
	// Kind is "warn" or "alarm" (the CSS class).
	Kind string
}

// The chart's geometry, in SVG user units.
const (
	chartW, chartH                       = 600.0, 170.0
	padLeft, padRight, padTop, padBottom = 52.0, 70.0, 10.0, 24.0
)

// fitTime narrows From and To to the readings and anomalies drawn, so a
// short history fills the width; it keeps at least a minute.
func (c *chart) fitTime() {
	var lo, hi time.Time
	see := func(t time.Time) {
		if lo.IsZero() || t.Before(lo) {
			lo = t
		}
		if t.After(hi) {
			hi = t
		}
	}
	for _, p := range c.Points {
		see(p.TS)
	}
	for _, a := range c.Anomalies {
		see(a.TS)
	}
	if lo.IsZero() {
		return
	}
	if span := hi.Sub(lo); span < time.Minute {
		lo = lo.Add(-(time.Minute - span) / 2)
		hi = lo.Add(time.Minute)
	}
	margin := hi.Sub(lo) / 40 // room for the dots at the edges
	c.From, c.To = lo.Add(-margin), hi.Add(margin)
}

// summary is the chart's text alternative.
func (c *chart) summary() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s from %s to %s: %d readings", c.Sensor, clock(c.From), clock(c.To), len(c.Points))
	if len(c.Bands) > 0 {
		fmt.Fprintf(&b, " (bucket means)")
	}
	if len(c.Anomalies) > 0 {
		lo, hi := math.Inf(1), math.Inf(-1)
		for _, a := range c.Anomalies {
			lo, hi = min(lo, a.Value), max(hi, a.Value)
		}
		fmt.Fprintf(&b, ", %d anomalous from %s to %s %s", len(c.Anomalies), num(lo), num(hi), c.Unit)
	}
	for _, l := range c.Limits {
		fmt.Fprintf(&b, "; %s %s %s", l.Label, num(l.Value), c.Unit)
	}
	return b.String() + "."
}

// SVG renders the chart as inline SVG with a title and description for
// screen readers.
func (c *chart) SVG() template.HTML {
	lo, hi := math.Inf(1), math.Inf(-1)
	see := func(v float64) {
		if !math.IsNaN(v) && !math.IsInf(v, 0) {
			lo, hi = min(lo, v), max(hi, v)
		}
	}
	for _, p := range c.Points {
		see(p.Value)
	}
	for _, b := range c.Bands {
		see(b.Min)
		see(b.Max)
	}
	for _, a := range c.Anomalies {
		see(a.Value)
	}
	for _, l := range c.Limits {
		see(l.Value)
	}
	if lo > hi { // nothing to draw
		lo, hi = 0, 1
	}
	if hi-lo < 1e-9 {
		lo, hi = lo-1, hi+1
	}
	pad := (hi - lo) * 0.08
	lo, hi = lo-pad, hi+pad
	from, to := c.From, c.To
	if !to.After(from) {
		to = from.Add(time.Minute)
	}
	plotW, plotH := chartW-padLeft-padRight, chartH-padTop-padBottom
	x := func(t time.Time) float64 {
		f := float64(t.Sub(from)) / float64(to.Sub(from))
		return padLeft + math.Max(0, math.Min(1, f))*plotW
	}
	y := func(v float64) float64 { return padTop + (hi-v)/(hi-lo)*plotH }

	id := "chart-" + safeID(c.ID)
	var b strings.Builder
	b.Grow(1024 + 16*(len(c.Points)+2*len(c.Bands)) + 128*len(c.Anomalies))
	fmt.Fprintf(&b, `<svg class="chart" viewBox="0 0 %g %g" role="img" aria-labelledby="%s-t %s-d">`, chartW, chartH, id, id)
	fmt.Fprintf(&b, `<title id="%s-t">%s readings</title><desc id="%s-d">%s</desc>`,
		id, template.HTMLEscapeString(c.Sensor), id, template.HTMLEscapeString(c.summary()))
	// Axes: three value gridlines and three times.
	for i := range 3 {
		v := lo + pad + float64(i)*(hi-lo-2*pad)/2
		fmt.Fprintf(&b, `<line class="grid" x1="%.1f" x2="%.1f" y1="%.1f" y2="%.1f"/>`, padLeft, padLeft+plotW, y(v), y(v))
		fmt.Fprintf(&b, `<text class="axis" x="%.1f" y="%.1f" text-anchor="end">%s</text>`, padLeft-4, y(v)+4, template.HTMLEscapeString(num(v)))
	}
	fmt.Fprintf(&b, `<text class="axis" x="4" y="%.1f">%s</text>`, padTop+8, template.HTMLEscapeString(c.Unit))
	layout := "15:04"
	if to.Sub(from) < 10*time.Minute {
		layout = "15:04:05"
	}
	for i, anchor := range []string{"start", "middle", "end"} {
		t := from.Add(time.Duration(i) * to.Sub(from) / 2)
		fmt.Fprintf(&b, `<text class="axis" x="%.1f" y="%.1f" text-anchor="%s">%s</text>`, x(t), chartH-6, anchor, t.UTC().Format(layout))
	}
	// Min/max band, then the line.
	// The point lists are most of the bytes: append, not Fprintf.
	var buf []byte
	point := func(px, py float64) {
		buf = strconv.AppendFloat(buf[:0], px, 'f', 1, 64)
		buf = append(buf, ',')
		buf = strconv.AppendFloat(buf, py, 'f', 1, 64)
		buf = append(buf, ' ')
		b.Write(buf)
	}
	if len(c.Bands) > 0 {
		b.WriteString(`<polygon class="band" points="`)
		for _, k := range c.Bands {
			point(x(k.TS), y(k.Max))
		}
		for i := len(c.Bands) - 1; i >= 0; i-- {
			point(x(c.Bands[i].TS), y(c.Bands[i].Min))
		}
		b.WriteString(`"/>`)
	}
	if len(c.Points) > 0 {
		b.WriteString(`<polyline class="line" points="`)
		for _, p := range c.Points {
			point(x(p.TS), y(p.Value))
		}
		b.WriteString(`"/>`)
	}
	for _, l := range c.Limits {
		fmt.Fprintf(&b, `<line class="limit %s" x1="%.1f" x2="%.1f" y1="%.1f" y2="%.1f"/>`, l.Kind, padLeft, padLeft+plotW, y(l.Value), y(l.Value))
		fmt.Fprintf(&b, `<text class="axis %s" x="%.1f" y="%.1f">%s %s</text>`, l.Kind, padLeft+plotW+4, y(l.Value)+4,
			template.HTMLEscapeString(l.Label), template.HTMLEscapeString(num(l.Value)))
	}
	for _, a := range c.Anomalies {
		fmt.Fprintf(&b, `<circle class="anomaly" cx="%.1f" cy="%.1f" r="3.5"><title>%s %s at %s</title></circle>`,
			x(a.TS), y(a.Value), template.HTMLEscapeString(num(a.Value)), template.HTMLEscapeString(c.Unit), a.TS.UTC().Format("15:04:05"))
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}

// num formats a value with four significant digits.
func num(v float64) string { return strconv.FormatFloat(v, 'g', 4, 64) }

// clock formats a chart time in UTC.
func clock(t time.Time) string { return t.UTC().Format("15:04") }

// safeID keeps letters, digits and dashes of s for an element id.
func safeID(s string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-':
			return r
		}
		return '-'
	}, s)
}
