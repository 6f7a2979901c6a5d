package loadtest

import (
	"bufio"
	"fmt"
	"math"
	"net/http"
	"sort"
	"strconv"
	"strings"
)

// Histogram is a Prometheus histogram read from a /metrics page.
type Histogram struct {
	// Buckets maps upper bounds to cumulative counts.
	Buckets map[float64]float64
	Count   float64
	Sum     float64
}

// Quantile estimates the q-quantile by linear interpolation inside the
// bucket that holds it, as Prometheus's histogram_quantile does.
func (h Histogram) Quantile(q float64) float64 {
	if h.Count == 0 {
		return math.NaN()
	}
	bounds := make([]float64, 0, len(h.Buckets))
	for b := range h.Buckets {
		bounds = append(bounds, b)
	}
	sort.Float64s(bounds)
	rank := q * h.Count
	prevBound, prevCount := 0.0, 0.0
	for _, b := range bounds {
		c := h.Buckets[b]
		if c >= rank {
			if math.IsInf(b, 1) {
				return prevBound
			}
			if c == prevCount {
				return b
			}
			return prevBound + (b-prevBound)*(rank-prevCount)/(c-prevCount)
		}
		prevBound, prevCount = b, c
	}
	return prevBound
}

// Scrape reads the counters and histograms named in names from a /metrics
// URL; a counter with labels is summed over its series. Histograms must be
// label-less, which is what smartmaint's are.
func Scrape(url string, names ...string) (map[string]float64, map[string]Histogram, error) {
	resp, err := http.Get(url)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, nil, fmt.Errorf("loadtest: %s answered %s", url, resp.Status)
	}
	want := map[string]bool{}
	for _, n := range names {
		want[n] = true
	}
	values := map[string]float64{}
	hists := map[string]Histogram{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "#") || line == "" {
			continue
		}
		series, raw, ok := strings.Cut(line, " ")
		if !ok {
			continue
		}
		v, err := strconv.ParseFloat(strings.TrimSpace(raw), 64)
		if err != nil {
			continue
		}
		name, labels, _ := strings.Cut(series, "{")
		switch {
		case want[name]:
			values[name] += v // a labelled family sums over its series
		case strings.HasSuffix(name, "_bucket") && want[strings.TrimSuffix(name, "_bucket")]:
			base := strings.TrimSuffix(name, "_bucket")
			le := strings.TrimSuffix(strings.TrimPrefix(labels, `le="`), `"}`)
			bound, err := strconv.ParseFloat(le, 64)
			if err != nil {
				continue
			}
			h := hists[base]
			if h.Buckets == nil {
				h.Buckets = map[float64]float64{}
			}
			h.Buckets[bound] = v
			hists[base] = h
		case strings.HasSuffix(name, "_count") && want[strings.TrimSuffix(name, "_count")]:
			h := hists[strings.TrimSuffix(name, "_count")]
			h.Count = v
			hists[strings.TrimSuffix(name, "_count")] = h
		case strings.HasSuffix(name, "_sum") && want[strings.TrimSuffix(name, "_sum")]:
			h := hists[strings.TrimSuffix(name, "_sum")]
			h.Sum = v
			hists[strings.TrimSuffix(name, "_sum")] = h
		}
	}
	return values, hists, sc.Err()
}
