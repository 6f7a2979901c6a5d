// Package vibration turns windows of a vibration signal into the features
// condition monitoring uses to spot bearing and gear wear: RMS (overall
// energy), kurtosis (impulsiveness: 3 for Gaussian noise, higher once a
// defect strikes on every rotation), crest factor (peak over RMS) and the
// signal power in frequency bands from an FFT.
package vibration

import (
	"errors"
	"fmt"
	"math"
	"math/cmplx"

	"gonum.org/v1/gonum/dsp/fourier"
)

// RMS is the root mean square of x.
func RMS(x []float64) float64 {
	var s float64
	for _, v := range x {
		s += v * v
	}
	return math.Sqrt(s / float64(len(x)))
}

// Kurtosis is the (Pearson, non-excess) kurtosis of x: the fourth central
// moment over the squared variance; 3 for a Gaussian, 1.5 for a sine. 0 for
// a constant window.
func Kurtosis(x []float64) float64 {
	var mean float64
	for _, v := range x {
		mean += v
	}
	mean /= float64(len(x))
	var m2, m4 float64
	for _, v := range x {
		d := (v - mean) * (v - mean)
		m2 += d
		m4 += d * d
	}
	if m2 == 0 {
		return 0
	}
	n := float64(len(x))
	return (m4 / n) / ((m2 / n) * (m2 / n))
}

// CrestFactor is the largest absolute value of x over its RMS; √2 for a
// sine. 0 for a window of zeros.
func CrestFactor(x []float64) float64 {
	rms := RMS(x)
	if rms == 0 {
		return 0
	}
	var peak float64
	for _, v := range x {
		peak = max(peak, math.Abs(v))
	}
	return peak / rms
}

// Band is a frequency range [Low, High) in hertz; a band whose High is the
// Nyquist frequency includes it.
type Band struct {
	Low  float64 `json:"low_hz"`
	High float64 `json:"high_hz"`
}

// DefaultBands splits 0..Nyquist into four octave-like bands: [0, N/8),
// [N/8, N/4), [N/4, N/2), [N/2, N].
func DefaultBands(sampleRate float64) []Band {
	ny := sampleRate / 2
	return []Band{{0, ny / 8}, {ny / 8, ny / 4}, {ny / 4, ny / 2}, {ny / 2, ny}}
}

// Extractor computes the features of fixed-length windows. It reuses its
// buffers, so one Extractor must not be used by several goroutines at once.
type Extractor struct {
	n          int
	sampleRate float64
	bands      []Band
	fft        *fourier.FFT
	coeff      []complex128
	centred    []float64
}

// NewExtractor prepares windows of n samples at sampleRate hertz with the
// given bands.
func NewExtractor(n int, sampleRate float64, bands []Band) (*Extractor, error) {
	if n < 4 {
		return nil, fmt.Errorf("vibration: window of %d samples, want at least 4", n)
	}
	if !(sampleRate > 0) {
		return nil, fmt.Errorf("vibration: sample rate %v", sampleRate)
	}
	if len(bands) == 0 {
		return nil, errors.New("vibration: no frequency bands")
	}
	for _, b := range bands {
		if b.Low < 0 || b.High <= b.Low {
			return nil, fmt.Errorf("vibration: band %v..%v Hz", b.Low, b.High)
		}
	}
	return &Extractor{
		n:          n,
		sampleRate: sampleRate,
		bands:      bands,
		fft:        fourier.NewFFT(n),
		coeff:      make([]complex128, n/2+1),
		centred:    make([]float64, n),
	}, nil
}

// Names are the feature names in the order of Extract's output.
func (e *Extractor) Names() []string {
	names := []string{"rms", "kurtosis", "crest_factor"}
	for _, b := range e.bands {
		names = append(names, fmt.Sprintf("band_%g_%g_hz", b.Low, b.High))
	}
	return names
}

// Extract appends the features of window (exactly n samples) to dst: RMS,
// kurtosis, crest factor, then each band's power — the part of the
// de-meaned signal's mean square carried by the band's frequencies
// (one-sided spectrum, so powers over bands covering 0..Nyquist add up to
// the variance).
func (e *Extractor) Extract(dst, window []float64) ([]float64, error) {
	if len(window) != e.n {
		return dst, fmt.Errorf("vibration: window of %d samples, extractor expects %d", len(window), e.n)
	}
	var mean float64
	for _, v := range window {
		mean += v
	}
	mean /= float64(e.n)
	for i, v := range window {
		e.centred[i] = v - mean
	}
	dst = append(dst, RMS(window), Kurtosis(window), CrestFactor(window))
	e.coeff = e.fft.Coefficients(e.coeff, e.centred)
	n := float64(e.n)
	ny := e.sampleRate / 2
	for _, b := range e.bands {
		var p float64
		for k, c := range e.coeff {
			f := e.fft.Freq(k) * e.sampleRate
			if f < b.Low || (f >= b.High && !(b.High >= ny && f <= ny)) {
				continue
			}
			w := 2.0
			if k == 0 || (e.n%2 == 0 && k == e.n/2) {
				w = 1 // DC and Nyquist appear once in the two-sided spectrum
			}
			a := cmplx.Abs(c)
			p += w * a * a / (n * n)
		}
		dst = append(dst, p)
	}
	return dst, nil
}
