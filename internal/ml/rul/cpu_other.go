//go:build !unix

package rul

// cpuSeconds is unknown off Unix.
func cpuSeconds() float64 { return 0 }
