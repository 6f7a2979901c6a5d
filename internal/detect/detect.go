// Package detect scores every ingested reading in process, in microseconds,
// and turns the anomalous ones into Anomaly records for the incident
// workflow.
//
// An Engine runs a list of Detectors over each reading. The built-in ones
// are Threshold (the sensor's warn/alarm limits) and RobustZ (a streaming
// median/MAD z-score per sensor, for sensors without limits and for drift
// inside the limits). Model detectors (Model, one per modelkind.Kind: the
// Isolation Forest, failure classifier, remaining-useful-life and bearing
// health models bound to an asset's type, scoring its feature vector)
// implement the same interface.
package detect

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"math"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/smartmaint/smartmaint/internal/anomaly"
	"github.com/smartmaint/smartmaint/internal/store"
)

// Reading is what a detector sees.
type Reading struct {
	Tenant string
	Sensor *store.Sensor
	TS     time.Time
	Value  float64
}

// Finding is a detector's verdict on one reading.
type Finding struct {
	Anomalous bool
	// Score in [0, 1]: how sure the detector is that the reading is abnormal.
	Score    float64
	Severity anomaly.Severity
	Reason   string
	// Direction is +1 for an abnormally high reading, -1 for a low one.
	Direction int
}

// Detector judges readings. Implementations must be safe for concurrent use
// and fast: Observe runs for every ingested reading.
type Detector interface {
	Name() string
	Observe(r Reading) Finding
}

// Engine runs detectors over readings. The zero value with Detectors set is
// ready to use.
//
// Readings are unique per sensor and timestamp (see internal/ingest), and
// gateways re-send them: a reading the Engine has already scored (the same
// sensor and timestamp among the sensor's last SeenKept) is not shown to the
// detectors again, so their state (robust-z trackers, model feature vectors)
// learns it once; the Engine answers with the verdict it gave the first
// time, the same Anomaly with the same ID. An anomaly's ID is derived from
// its reading (tenant, sensor, timestamp), so even a re-sent reading the
// Engine no longer remembers (another API replica, a restart) yields the same
// anomaly, which the outbox (ON CONFLICT (id) DO NOTHING) stores once and the
// incident workflow (seen anomaly ids) counts once. Re-using the verdict
// rather than dropping it keeps a request retried after a failed commit
// from losing its anomalies.
type Engine struct {
	Detectors []Detector
	// Now is the clock; time.Now when nil.
	Now func() time.Time

	seen [64]seenShard
}

// SeenKept is how many recent timestamps per sensor the Engine remembers to
// recognise re-sent readings.
const SeenKept = 64

type seenShard struct {
	mu sync.Mutex
	m  map[int64]*recent
}

// recent is a ring of a sensor's last scored timestamps and their verdicts.
type recent struct {
	micros  [SeenKept]int64
	verdict [SeenKept]*anomaly.Anomaly // nil: not anomalous
	n, next int
}

func (r *recent) find(us int64) (int, bool) {
	for i := range r.n {
		if r.micros[i] == us {
			return i, true
		}
	}
	return 0, false
}

func (r *recent) add(us int64, a *anomaly.Anomaly) {
	r.micros[r.next], r.verdict[r.next] = us, a
	r.next = (r.next + 1) % SeenKept
	r.n = min(r.n+1, SeenKept)
}

// Score observes every reading and returns the anomalous ones. sensors[i]
// is the sensor of rows[i].
func (e *Engine) Score(tenant string, rows []store.Reading, sensors []*store.Sensor) []anomaly.Anomaly {
	defer observeScore(time.Now(), len(rows))
	now := time.Now
	if e.Now != nil {
		now = e.Now
	}
	var out []anomaly.Anomaly
	var t time.Time
	for i := range rows {
		r := Reading{Tenant: tenant, Sensor: sensors[i], TS: rows[i].TS, Value: rows[i].Value}
		us := r.TS.UnixMicro() // PostgreSQL's precision, as readings are stored
		sh := &e.seen[uint64(r.Sensor.Key)%uint64(len(e.seen))]
		sh.mu.Lock()
		if sh.m == nil {
			sh.m = map[int64]*recent{}
		}
		rc := sh.m[r.Sensor.Key]
		if rc == nil {
			rc = &recent{}
			sh.m[r.Sensor.Key] = rc
		}
		if j, ok := rc.find(us); ok {
			if a := rc.verdict[j]; a != nil {
				out = append(out, *a)
			}
			sh.mu.Unlock()
			continue
		}
		// The shard stays locked while the detectors run, so two copies
		// of one reading scored at once are still learnt once.
		a := e.observe(r)
		if a != nil {
			if t.IsZero() {
				t = now()
			}
			a.ID = AnomalyID(tenant, r.Sensor.Key, r.TS)
			a.DetectedAt = t
			out = append(out, *a)
		}
		rc.add(us, a)
		sh.mu.Unlock()
	}
	return out
}

// observe runs every detector on r and combines their findings; nil when
// none found r anomalous.
func (e *Engine) observe(r Reading) *anomaly.Anomaly {
	var a *anomaly.Anomaly
	for _, d := range e.Detectors {
		f := d.Observe(r)
		if !f.Anomalous {
			continue
		}
		if a == nil {
			a = &anomaly.Anomaly{
				TenantID: r.Tenant, AssetID: r.Sensor.AssetID, SensorID: r.Sensor.ID, SensorKey: r.Sensor.Key,
				TS: r.TS, Value: r.Value,
			}
		}
		if a.Direction == 0 {
			a.Direction = f.Direction
		}
		a.Score = max(a.Score, f.Score)
		a.Severity = a.Severity.Max(f.Severity)
		a.Detector = join(a.Detector, d.Name(), "+")
		a.Reason = join(a.Reason, f.Reason, "; ")
	}
	return a
}

// AnomalyID is the ID of the anomaly found in the reading of sensorKey at ts
// for tenant: the same for every copy of the reading. It has UUIDv7's layout
// with the reading's time (so IDs sort by reading time) and 74 bits of a
// SHA-256 of tenant, sensor and timestamp (at microseconds) in place of
// random bits.
func AnomalyID(tenant string, sensorKey int64, ts time.Time) string {
	h := sha256.New()
	h.Write([]byte(tenant))
	var b [17]byte
	binary.BigEndian.PutUint64(b[1:9], uint64(sensorKey))
	binary.BigEndian.PutUint64(b[9:], uint64(ts.UnixMicro()))
	h.Write(b[:]) // b[0] = 0 separates tenant from the numbers
	sum := h.Sum(nil)
	var u uuid.UUID
	ms := uint64(ts.UnixMilli())
	for i := range 6 {
		u[i] = byte(ms >> (40 - 8*i))
	}
	copy(u[6:], sum[:10])
	u[6] = u[6]&0x0f | 0x70 // version 7
	u[8] = u[8]&0x3f | 0x80 // RFC 9562 variant
	return u.String()
}

func join(a, b, sep string) string {
	if a == "" {
		return b
	}
	return a + sep + b
}

// Threshold flags readings beyond the sensor's operating limits: past a warn
// limit is a warning, past an alarm limit major, and past the alarm limit by
// more than the warn-to-alarm band again is critical.
type Threshold struct{}

// Name implements Detector.
func (Threshold) Name() string { return "threshold" }

// Observe implements Detector.
func (Threshold) Observe(r Reading) Finding {
	s, v := r.Sensor, r.Value
	if f, ok := beyond(v, s.WarnHigh, s.AlarmHigh, +1, s.Unit); ok {
		return f
	}
	if f, ok := beyond(v, s.WarnLow, s.AlarmLow, -1, s.Unit); ok {
		return f
	}
	return Finding{}
}

// beyond checks one side; dir is +1 for high limits and -1 for low ones.
func beyond(v float64, warn, alarm *float64, dir float64, unit string) (Finding, bool) {
	side := "above"
	if dir < 0 {
		side = "below"
	}
	past := func(limit float64) bool { return (v-limit)*dir > 0 }
	if alarm != nil && past(*alarm) {
		sev, score := anomaly.Major, 0.9
		if warn != nil {
			band := math.Abs(*alarm - *warn)
			if band > 0 && math.Abs(v-*alarm) > band {
				sev, score = anomaly.Critical, 1
			}
		}
		return Finding{Anomalous: true, Score: score, Severity: sev, Direction: int(dir),
			Reason: fmt.Sprintf("%g %s is %s the alarm limit %g", v, unit, side, *alarm)}, true
	}
	if warn != nil && past(*warn) {
		score := 0.6
		if alarm != nil && *alarm != *warn {
			// Closer to the alarm limit, surer.
			score = 0.6 + 0.3*math.Min(1, math.Abs(v-*warn)/math.Abs(*alarm-*warn))
		}
		return Finding{Anomalous: true, Score: score, Severity: anomaly.Warning, Direction: int(dir),
			Reason: fmt.Sprintf("%g %s is %s the warning limit %g", v, unit, side, *warn)}, true
	}
	return Finding{}, false
}
