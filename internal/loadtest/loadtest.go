// Package loadtest drives the ingest API over HTTP with vegeta and checks
// afterwards that every acknowledged reading is in PostgreSQL. It also
// measures the raw pgx COPY rate on the same database in the same run, so
// the API's batched throughput can be compared with the ceiling.
package loadtest

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	vegeta "github.com/tsenart/vegeta/v12/lib"

	"github.com/smartmaint/smartmaint/internal/apikey"
	"github.com/smartmaint/smartmaint/internal/store"
)

// Options describe one run.
type Options struct {
	// BaseURL of the API under test, e.g. http://127.0.0.1:8080.
	BaseURL string
	// DB is the database the API writes to; the run creates its own tenant,
	// key, assets and sensors there and counts readings afterwards.
	DB *store.DB
	// Tenant to create and use; readings of it are counted.
	Tenant string
	// BatchSize readings per request (1 = single-reading POSTs).
	BatchSize int
	// Rate is requests per second; 0 sends as fast as Workers allow.
	Rate     int
	Duration time.Duration
	// Workers bounds concurrent requests when Rate is 0 (and the initial
	// worker count otherwise).
	Workers int
	// Assets × SensorsPerAsset sensors receive readings.
	Assets          int
	SensorsPerAsset int
	// AnomalyRate is the share of readings sent past the sensors' alarm
	// limit (100; normal readings are around 50), to load the incident path.
	AnomalyRate float64
}

// Report is what one run measured.
type Report struct {
	Name          string        `json:"name"`
	Requests      uint64        `json:"requests"`
	Succeeded     uint64        `json:"succeeded"`
	RequestsPerS  float64       `json:"requests_per_second"`
	ReadingsPerS  float64       `json:"readings_per_second"`
	P50           time.Duration `json:"p50"`
	P95           time.Duration `json:"p95"`
	P99           time.Duration `json:"p99"`
	Max           time.Duration `json:"max"`
	StatusCodes   map[string]int
	Errors        []string `json:"errors,omitempty"`
	Acknowledged  int64    `json:"acknowledged_readings"`
	Committed     int64    `json:"committed_readings"`
	LostReadings  int64    `json:"lost_readings"`
	ExtraReadings int64    `json:"extra_readings"`
}

// String formats the report as one table row block.
func (r Report) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s\n", r.Name)
	fmt.Fprintf(&b, "  requests      %d (%d succeeded), codes %v\n", r.Requests, r.Succeeded, r.StatusCodes)
	fmt.Fprintf(&b, "  throughput    %.0f req/s, %.0f readings/s\n", r.RequestsPerS, r.ReadingsPerS)
	fmt.Fprintf(&b, "  latency       p50 %s  p95 %s  p99 %s  max %s\n", round(r.P50), round(r.P95), round(r.P99), round(r.Max))
	fmt.Fprintf(&b, "  durability    acknowledged %d, committed %d, lost %d\n", r.Acknowledged, r.Committed, r.LostReadings)
	for _, e := range r.Errors {
		fmt.Fprintf(&b, "  error         %s\n", e)
	}
	return b.String()
}

func round(d time.Duration) time.Duration { return d.Round(10 * time.Microsecond) }

// Setup creates the tenant, an API key and the assets and sensors; it
// returns the key.
func Setup(ctx context.Context, o Options) (string, error) {
	if err := o.DB.EnsureTenant(ctx, o.Tenant, "Load test"); err != nil {
		return "", err
	}
	key, prefix, hash := apikey.Generate()
	if _, err := o.DB.CreateAPIKey(ctx, o.Tenant, "loadtest", prefix, hash, []apikey.Scope{apikey.ReadingsWrite, apikey.ReadingsRead}, nil); err != nil {
		return "", err
	}
	for a := range o.Assets {
		id := assetID(a)
		if _, err := o.DB.CreateAsset(ctx, o.Tenant, store.Asset{ID: id, Type: "loadtest"}); err != nil && !isConflict(err) {
			return "", err
		}
		for s := range o.SensorsPerAsset {
			_, err := o.DB.CreateSensor(ctx, o.Tenant, store.Sensor{AssetID: id, ID: sensorID(s), Unit: "u", AlarmHigh: &alarmLimit})
			if err != nil && !isConflict(err) {
				return "", err
			}
		}
	}
	return key, nil
}

// alarmLimit is every load-test sensor's alarm limit.
var alarmLimit = 100.0

func isConflict(err error) bool {
	return err != nil && strings.Contains(err.Error(), store.ErrConflict.Error())
}

func assetID(i int) string  { return fmt.Sprintf("lt-asset-%03d", i) }
func sensorID(i int) string { return fmt.Sprintf("s%02d", i) }

// Run attacks the ingest endpoint and checks durability afterwards.
func Run(ctx context.Context, o Options, key, name string) (Report, error) {
	before, err := o.DB.CountReadings(ctx, o.Tenant)
	if err != nil {
		return Report{}, err
	}
	// Enough distinct bodies that every sensor sees many values (a sensor
	// fed the same few values would only teach the detectors a false
	// spread), within about half a million pre-rendered readings.
	// Readings are unique per sensor and timestamp, so each request gets
	// fresh timestamps: a body sent again would only measure duplicates.
	batches := makeBatches(o, max(64, min(8192, 500_000/max(o.BatchSize, 1))))
	bodies := make([]template, len(batches))
	for i, b := range batches {
		bodies[i] = newTemplate(b)
	}
	hdr := http.Header{"Content-Type": {"application/json"}, "X-API-Key": {key}}
	url := strings.TrimRight(o.BaseURL, "/") + "/api/v1/readings"
	ts := newStamps()
	var next atomic.Int64
	targeter := func(t *vegeta.Target) error {
		t.Method, t.URL, t.Header = http.MethodPost, url, hdr
		t.Body = bodies[int(next.Add(1)-1)%len(bodies)].render(ts)
		return nil
	}
	workers := uint64(max(o.Workers, 1))
	// A fixed pool of workers, each with its own kept-alive connection: when
	// the server slows down, vegeta would otherwise add workers without
	// bound, each opening and closing connections, and the generator's own
	// connection churn (system time) becomes what is measured.
	opts := []func(*vegeta.Attacker){
		vegeta.Timeout(30 * time.Second), vegeta.KeepAlive(true),
		vegeta.Workers(workers), vegeta.MaxWorkers(workers),
		vegeta.Connections(int(workers)), vegeta.MaxConnections(int(workers)),
	}
	var pacer vegeta.Pacer = vegeta.Rate{Freq: o.Rate, Per: time.Second}
	if o.Rate == 0 {
		pacer = vegeta.Rate{Freq: 0}
	}
	attacker := vegeta.NewAttacker(opts...)
	var m vegeta.Metrics
	results := attacker.Attack(targeter, pacer, o.Duration, name)
	stop := context.AfterFunc(ctx, func() { attacker.Stop() })
	defer stop()
	for res := range results {
		m.Add(res)
	}
	m.Close()
	after, err := o.DB.CountReadings(ctx, o.Tenant)
	if err != nil {
		return Report{}, err
	}
	ok := uint64(m.StatusCodes["201"])
	r := Report{
		Name:         name,
		Requests:     m.Requests,
		Succeeded:    ok,
		RequestsPerS: m.Throughput,
		ReadingsPerS: m.Throughput * float64(o.BatchSize),
		P50:          m.Latencies.P50,
		P95:          m.Latencies.P95,
		P99:          m.Latencies.P99,
		Max:          m.Latencies.Max,
		StatusCodes:  m.StatusCodes,
		Errors:       m.Errors,
		Acknowledged: int64(ok) * int64(o.BatchSize),
		Committed:    after - before,
	}
	if len(r.Errors) > 5 {
		r.Errors = r.Errors[:5]
	}
	if r.Committed < r.Acknowledged {
		r.LostReadings = r.Acknowledged - r.Committed
	} else {
		// Requests that committed but whose answer the client never saw.
		r.ExtraReadings = r.Committed - r.Acknowledged
	}
	return r, nil
}

type input struct {
	AssetID  string  `json:"asset_id"`
	SensorID string  `json:"sensor_id"`
	TS       string  `json:"ts"`
	Value    float64 `json:"value"`
}

// stamps hands out reading timestamps one microsecond apart (PostgreSQL's
// precision), going back from the moment the attack started, so no two
// readings of a run share a sensor and timestamp.
type stamps struct {
	origin time.Time
	n      atomic.Int64
}

func newStamps() *stamps { return &stamps{origin: time.Now().UTC().Truncate(time.Microsecond)} }

func (s *stamps) next() time.Time {
	return s.origin.Add(-time.Duration(s.n.Add(1)) * time.Microsecond).UTC()
}

// makeBatches pre-draws n requests' readings (sensor and value; the
// timestamp is set when a request is sent).
func makeBatches(o Options, n int) [][]input {
	rng := rand.New(rand.NewPCG(1, 2))
	out := make([][]input, n)
	for i := range out {
		batch := make([]input, o.BatchSize)
		for j := range batch {
			batch[j] = input{
				AssetID:  assetID(rng.IntN(o.Assets)),
				SensorID: sensorID(rng.IntN(o.SensorsPerAsset)),
				Value:    50 + rng.NormFloat64()*5,
			}
			if rng.Float64() < o.AnomalyRate {
				batch[j].Value = alarmLimit * 1.5
			}
		}
		out[i] = batch
	}
	return out
}

// stampLayout is RFC 3339 at microseconds in UTC: fixed width, so a body
// can be rendered once and only its timestamps written per request.
const stampLayout = "2006-01-02T15:04:05.000000Z"

// template is a request body with a slot for each reading's timestamp.
type template struct {
	body  []byte
	slots []int // offsets of the timestamps in body
}

// newTemplate renders batch: one object for a batch of one, an array
// otherwise.
func newTemplate(batch []input) template {
	var t template
	if len(batch) > 1 {
		t.body = append(t.body, '[')
	}
	for i, r := range batch {
		if i > 0 {
			t.body = append(t.body, ',')
		}
		t.body = fmt.Appendf(t.body, `{"asset_id":%q,"sensor_id":%q,"ts":"`, r.AssetID, r.SensorID)
		t.slots = append(t.slots, len(t.body))
		t.body = append(t.body, stampLayout...)
		t.body = fmt.Appendf(t.body, `","value":%s}`, strconv.FormatFloat(r.Value, 'g', -1, 64))
	}
	if len(batch) > 1 {
		t.body = append(t.body, ']')
	}
	return t
}

// render returns a copy of the body with fresh timestamps from ts.
func (t template) render(ts *stamps) []byte {
	b := slices.Clone(t.body)
	var buf [64]byte
	for _, off := range t.slots {
		copy(b[off:off+len(stampLayout)], ts.next().AppendFormat(buf[:0], stampLayout))
	}
	return b
}

// RawCopy measures pgx COPY into readings directly, rows of batch size per
// transaction for the given duration, and returns rows per second. It is the
// ceiling the API's batched ingest is compared with.
func RawCopy(ctx context.Context, db *store.DB, tenant string, batch int, d time.Duration) (float64, error) {
	keys, err := sensorKeys(ctx, db, tenant)
	if err != nil {
		return 0, err
	}
	rng := rand.New(rand.NewPCG(3, 4))
	rows := make([]store.Reading, batch)
	for i := range rows {
		rows[i] = store.Reading{TenantID: tenant, SensorKey: keys[rng.IntN(len(keys))], Value: rng.Float64()}
	}
	// Ten minutes back: clear of the API attacks' timestamps but in the
	// same daily partition, so both write into indexes of the same size.
	// New timestamps for every transaction, since a stored reading cannot
	// be copied in again.
	ts := &stamps{origin: time.Now().UTC().Add(-10 * time.Minute)}
	start := time.Now()
	var total int64
	for time.Since(start) < d {
		for i := range rows {
			rows[i].TS = ts.next()
		}
		err := pgx.BeginFunc(ctx, db.Pool, func(tx pgx.Tx) error {
			n, err := store.CopyReadings(ctx, tx, rows)
			total += n
			return err
		})
		if err != nil {
			return 0, err
		}
	}
	return float64(total) / time.Since(start).Seconds(), nil
}

func sensorKeys(ctx context.Context, db *store.DB, tenant string) ([]int64, error) {
	sensors, err := db.SensorsOfTenant(ctx, tenant)
	if err != nil {
		return nil, err
	}
	if len(sensors) == 0 {
		return nil, fmt.Errorf("loadtest: tenant %q has no sensors; run Setup first", tenant)
	}
	keys := make([]int64, len(sensors))
	for i, s := range sensors {
		keys[i] = s.Key
	}
	return keys, nil
}

// WaitReady polls url until it answers 200 or ctx ends.
func WaitReady(ctx context.Context, url string) error {
	for {
		resp, err := http.Get(url)
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("loadtest: %s not ready: %w", url, ctx.Err())
		case <-time.After(200 * time.Millisecond):
		}
	}
}
