// Package backtest replays recorded series through the detectors and models
// the ingest path uses and reports what would have happened: when the first
// sustained alarm came, how long before the failure, how often it cried
// wolf, and how far a remaining-useful-life prediction was from the truth.
//
// Each dataset layout has its own entry point (CMAPSS, IMS, AzurePdM) and
// its own report type; every report is JSON-encodable (the contract in
// docs/ML.md), prints a human summary and draws charts of score or health
// against time with alarms and failures marked.
package backtest

import (
	"io"
)

// Progress, when set, is called as work completes with the units done and
// the total (snapshots, cycles or machine-hours).
type Progress func(done, total int)

// Report is what every backtest returns.
type Report interface {
	// Summary writes a human-readable summary.
	Summary(w io.Writer) error
	// Charts are the figures of the run, one per unit, bearing or machine
	// worth showing.
	Charts() []*Chart
}
