package detect

import (
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/smartmaint/smartmaint/internal/anomaly"
	"github.com/smartmaint/smartmaint/internal/store"
)

// counting counts the readings a detector is shown.
type counting struct {
	Detector
	n atomic.Int64
}

func (c *counting) Observe(r Reading) Finding { c.n.Add(1); return c.Detector.Observe(r) }

// TestEngineLearnsARepeatedReadingOnce: a re-sent reading (same sensor and
// timestamp) is not shown to the detectors again, so the robust-z tracker
// does not learn it twice, and it gets the verdict of the first time, the
// same anomaly with the same ID, not a second one.
func TestEngineLearnsARepeatedReadingOnce(t *testing.T) {
	rz := NewRobustZ(6, 0.05)
	c := &counting{Detector: rz}
	e := &Engine{Detectors: []Detector{Threshold{}, c}}
	_, rows, sensors := calmTorque(100)
	if got := e.Score("acme", rows, sensors); len(got) != 0 {
		t.Fatalf("warm-up raised %+v", got)
	}
	spike := []store.Reading{{TenantID: "acme", SensorKey: 3, TS: time.Unix(200, 500), Value: 90}}
	first := e.Score("acme", spike, sensors[:1])
	if len(first) != 1 {
		t.Fatalf("spike: %d anomalies, want 1", len(first))
	}
	seen := c.n.Load()
	median, sigma := rz.shards[3].m[3].Median(), rz.shards[3].m[3].Sigma()

	// The same spike again, alone and then inside a request of the last 30
	// readings re-sent (a gateway retrying), at nanoseconds PostgreSQL
	// cannot tell apart.
	again := spike[0]
	again.TS = again.TS.Add(400 * time.Nanosecond)
	second := e.Score("acme", []store.Reading{again}, sensors[:1])
	third := e.Score("acme", append(rows[70:], spike[0]), sensors[:31])
	if c.n.Load() != seen {
		t.Errorf("the detector saw %d more readings; re-sent ones must not be learnt again", c.n.Load()-seen)
	}
	if m, sg := rz.shards[3].m[3].Median(), rz.shards[3].m[3].Sigma(); m != median || sg != sigma {
		t.Errorf("tracker moved from median %g σ %g to %g %g", median, sigma, m, sg)
	}
	for _, got := range [][]anomaly.Anomaly{second, third} {
		if len(got) != 1 || got[0] != first[0] {
			t.Errorf("re-sent spike: %+v, want the first verdict %+v", got, first[0])
		}
	}

	// A new reading is still judged.
	next := []store.Reading{{TenantID: "acme", SensorKey: 3, TS: time.Unix(201, 0), Value: 40}}
	e.Score("acme", next, sensors[:1])
	if c.n.Load() != seen+1 {
		t.Errorf("a new reading was not shown to the detector")
	}
}

// TestAnomalyID: the same reading gives the same ID in any process, other
// readings other IDs; IDs are UUIDv7 ordered by the reading's time.
func TestAnomalyID(t *testing.T) {
	ts := time.Date(2026, 12, 4, 3, 0, 0, 123456100, time.UTC)
	id := AnomalyID("acme", 7, ts)
	if id != AnomalyID("acme", 7, ts.Add(300*time.Nanosecond)) {
		t.Error("the same reading at microseconds gave two IDs")
	}
	for _, other := range []string{AnomalyID("acme", 7, ts.Add(time.Microsecond)), AnomalyID("acme", 8, ts), AnomalyID("acme2", 7, ts)} {
		if other == id {
			t.Errorf("different readings share ID %s", id)
		}
	}
	u, err := uuid.Parse(id)
	if err != nil || u.Version() != 7 || u.Variant() != uuid.RFC4122 {
		t.Fatalf("%s: version %v variant %v, %v", id, u.Version(), u.Variant(), err)
	}
	if sec, nsec := u.Time().UnixTime(); time.Unix(sec, nsec).UnixMilli() != ts.UnixMilli() {
		t.Errorf("ID time %v, want %v", time.Unix(sec, nsec), ts)
	}
	if later := AnomalyID("acme", 7, ts.Add(time.Second)); later <= id {
		t.Errorf("IDs do not sort by reading time: %s then %s", id, later)
	}
}
