package loadtest

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/smartmaint/smartmaint/internal/store"
)

// Kinds of soak requests.
const (
	KindSingle    = "single"    // one reading
	KindBatch     = "batch"     // BatchSize readings
	KindQuery     = "query"     // GET readings, raw or bucketed
	KindInvalid   = "invalid"   // a bad request the API must refuse with 400 or 422
	KindDuplicate = "duplicate" // one reading sent twice with the same Idempotency-Key
)

var soakKinds = []string{KindSingle, KindBatch, KindQuery, KindInvalid, KindDuplicate}

// SoakOptions describe a soak run: a fixed mix of requests per second held
// for Duration.
type SoakOptions struct {
	// BaseURL, DB and Tenant as for Run; Key is an API key of Tenant with
	// readings:write and readings:read (see Setup).
	BaseURL string
	DB      *store.DB
	Tenant  string
	Key     string
	// Assets × SensorsPerAsset sensors, as made by Setup.
	Assets          int
	SensorsPerAsset int
	Duration        time.Duration
	// Interval is the length of one row of the report (default 1 minute).
	Interval time.Duration
	// Rates are requests per second of each kind; BatchSize readings go in
	// each batch.
	Rates     map[string]int
	BatchSize int
	// Workers bounds concurrent requests (default 256).
	Workers int
	// Progress, when set, gets each interval's row as it completes.
	Progress io.Writer
}

// DefaultSoakRates is a mix a 2-core machine holds with room to spare:
// 2,000 single readings, 20 batches of 100, 20 queries (one sensor's
// last minute), 20 invalid requests and 20 duplicated readings a second.
func DefaultSoakRates() map[string]int {
	return map[string]int{KindSingle: 2000, KindBatch: 20, KindQuery: 20, KindInvalid: 20, KindDuplicate: 20}
}

// SoakInterval is one row of a soak report.
type SoakInterval struct {
	Start    time.Duration `json:"start"`
	Seconds  float64       `json:"seconds"`
	Requests int           `json:"requests"`
	Readings int           `json:"readings_acknowledged"`
	Errors   int           `json:"errors"`
	// P50 and P99 are of single-reading POSTs, P99All of every request,
	// all measured from when the request was due.
	P50        time.Duration  `json:"p50_single"`
	P99        time.Duration  `json:"p99_single"`
	P99All     time.Duration  `json:"p99_all"`
	Codes      map[string]int `json:"codes"`
	RSSBytes   float64        `json:"api_rss_bytes"`
	Goroutines float64        `json:"api_goroutines"`

	latencies, latenciesAll []time.Duration
}

// SoakReport is what a soak run measured.
type SoakReport struct {
	Intervals []SoakInterval `json:"intervals"`
	// Dropped counts requests the generator could not even start on time
	// (its own queue full): a sign the machine, not the API, was saturated.
	Dropped      int64   `json:"dropped"`
	Requests     int     `json:"requests"`
	Errors       int     `json:"errors"`
	Acknowledged int64   `json:"acknowledged_readings"`
	Committed    int64   `json:"committed_readings"`
	Lost         int64   `json:"lost_readings"`
	Extra        int64   `json:"extra_readings"`
	Replays      int     `json:"idempotent_replays"`
	Conflicts    int     `json:"idempotent_in_progress"`
	Drift        float64 `json:"throughput_drift"`
	P99Drift     float64 `json:"p99_drift"`
	// ErrorKinds counts unexpected answers by kind and status (0 is a
	// transport error); TransportErrors holds a few of their messages.
	ErrorKinds      map[string]int `json:"error_kinds"`
	TransportErrors []string       `json:"transport_errors,omitempty"`
}

// soakResult is one answered request.
type soakResult struct {
	kind      string
	scheduled time.Time
	latency   time.Duration
	code      int
	ok        bool
	readings  int // acknowledged readings
	replay    bool
	conflict  bool
	err       error
}

// Soak holds the request mix for o.Duration and reports per interval:
// throughput, single-reading latency, errors and the API's memory and
// goroutines (from its /metrics). Latency is measured from when a request
// was due, so a stalled API shows up in it. At the end the committed
// readings are counted against the acknowledged ones.
func Soak(ctx context.Context, o SoakOptions) (SoakReport, error) {
	if o.Interval <= 0 {
		o.Interval = time.Minute
	}
	if o.Workers <= 0 {
		o.Workers = 256
	}
	if o.BatchSize <= 0 {
		o.BatchSize = 100
	}
	if o.Rates == nil {
		o.Rates = DefaultSoakRates()
	}
	before, err := o.DB.CountReadings(ctx, o.Tenant)
	if err != nil {
		return SoakReport{}, err
	}
	g := &soakGen{o: o, base: time.Now().UTC().Add(-time.Minute).Truncate(time.Second), client: &http.Client{
		Timeout:   30 * time.Second,
		Transport: &http.Transport{MaxIdleConns: o.Workers, MaxIdleConnsPerHost: o.Workers, IdleConnTimeout: time.Minute},
	}, rng: rand.New(rand.NewPCG(7, 11))}
	type job struct {
		kind string
		due  time.Time
		n    int64 // sequence number of this kind
	}
	jobs := make(chan job, 100_000)
	results := make(chan soakResult, 100_000)
	var dropped atomic.Int64

	start := time.Now()
	runCtx, cancel := context.WithDeadline(ctx, start.Add(o.Duration))
	defer cancel()
	var workers sync.WaitGroup
	for range o.Workers {
		workers.Go(func() {
			for j := range jobs {
				results <- g.do(j.kind, j.n, j.due)
			}
		})
	}
	// The pacer: every 5 ms, the requests of each kind that are due.
	go func() {
		defer close(jobs)
		t := time.NewTicker(5 * time.Millisecond)
		defer t.Stop()
		sent := map[string]int64{}
		for {
			select {
			case <-runCtx.Done():
				return
			case now := <-t.C:
				elapsed := now.Sub(start).Seconds()
				for _, k := range soakKinds {
					due := int64(elapsed * float64(o.Rates[k]))
					for ; sent[k] < due; sent[k]++ {
						select {
						case jobs <- job{kind: k, due: now, n: sent[k]}:
						default:
							dropped.Add(1)
						}
					}
				}
			}
		}
	}()
	go func() { workers.Wait(); close(results) }()

	// Sample the API's memory and goroutines at the end of each interval.
	var samplesMu sync.Mutex
	samples := map[int][2]float64{}
	go func() {
		t := time.NewTicker(o.Interval)
		defer t.Stop()
		for i := 0; ; i++ {
			select {
			case <-runCtx.Done():
				return
			case <-t.C:
				v, _, err := Scrape(strings.TrimRight(o.BaseURL, "/")+"/metrics", "process_resident_memory_bytes", "go_goroutines")
				if err == nil {
					samplesMu.Lock()
					samples[i] = [2]float64{v["process_resident_memory_bytes"], v["go_goroutines"]}
					samplesMu.Unlock()
				}
			}
		}
	}()

	var rep SoakReport
	rep.ErrorKinds = map[string]int{}
	n := int((o.Duration + o.Interval - 1) / o.Interval)
	rows := make([]SoakInterval, n)
	for i := range rows {
		rows[i] = SoakInterval{Start: time.Duration(i) * o.Interval, Codes: map[string]int{}}
	}
	printed := 0
	for r := range results {
		i := min(int(r.scheduled.Sub(start)/o.Interval), n-1)
		row := &rows[i]
		row.Requests++
		row.Codes[strconv.Itoa(r.code)]++
		row.latenciesAll = append(row.latenciesAll, r.latency)
		if r.kind == KindSingle {
			row.latencies = append(row.latencies, r.latency)
		}
		row.Readings += r.readings
		rep.Acknowledged += int64(r.readings)
		if r.replay {
			rep.Replays++
		}
		if r.conflict {
			rep.Conflicts++
		}
		if !r.ok {
			row.Errors++
			rep.ErrorKinds[r.kind+"/"+strconv.Itoa(r.code)]++
			if r.err != nil && len(rep.TransportErrors) < 5 && !slices.Contains(rep.TransportErrors, r.err.Error()) {
				rep.TransportErrors = append(rep.TransportErrors, r.err.Error())
			}
		}
		// Print rows as their interval closes (results arrive roughly in order).
		for o.Progress != nil && printed < i-1 {
			fmt.Fprintln(o.Progress, rows[printed].summarize(o.Interval, samples, &samplesMu, printed))
			printed++
		}
	}
	rep.Dropped = dropped.Load()
	// The sampler stops with the load; take the last interval's sample now.
	samplesMu.Lock()
	_, have := samples[n-1]
	samplesMu.Unlock()
	if !have {
		if v, _, err := Scrape(strings.TrimRight(o.BaseURL, "/")+"/metrics", "process_resident_memory_bytes", "go_goroutines"); err == nil {
			samplesMu.Lock()
			samples[n-1] = [2]float64{v["process_resident_memory_bytes"], v["go_goroutines"]}
			samplesMu.Unlock()
		}
	}
	for i := range rows {
		row := &rows[i]
		row.summarize(o.Interval, samples, &samplesMu, i)
		if i == n-1 {
			row.Seconds = o.Duration.Seconds() - row.Start.Seconds()
		}
		rep.Requests += row.Requests
		rep.Errors += row.Errors
	}
	for o.Progress != nil && printed < n {
		fmt.Fprintln(o.Progress, rows[printed].line())
		printed++
	}
	rep.Intervals = rows
	if first, last := rows[0], rows[n-1]; n > 1 && first.Readings > 0 && first.P99 > 0 {
		rate := func(r SoakInterval) float64 { return float64(r.Readings) / r.Seconds }
		rep.Drift = rate(last)/rate(first) - 1
		rep.P99Drift = float64(last.P99)/float64(first.P99) - 1
	}

	after, err := o.DB.CountReadings(context.WithoutCancel(ctx), o.Tenant)
	if err != nil {
		return rep, err
	}
	rep.Committed = after - before
	if rep.Committed < rep.Acknowledged {
		rep.Lost = rep.Acknowledged - rep.Committed
	} else {
		rep.Extra = rep.Committed - rep.Acknowledged
	}
	return rep, nil
}

// summarize fills the derived fields of row i and returns its line.
func (r *SoakInterval) summarize(interval time.Duration, samples map[int][2]float64, mu *sync.Mutex, i int) string {
	r.Seconds = interval.Seconds()
	r.P50, r.P99 = quantile(r.latencies, 0.5), quantile(r.latencies, 0.99)
	r.P99All = quantile(r.latenciesAll, 0.99)
	mu.Lock()
	s := samples[i]
	mu.Unlock()
	r.RSSBytes, r.Goroutines = s[0], s[1]
	return r.line()
}

func (r SoakInterval) line() string {
	return fmt.Sprintf("| %s | %.0f | %.0f | %s | %s | %s | %d | %.0f | %.0f |", r.Start.Round(time.Second), float64(r.Requests)/r.Seconds, float64(r.Readings)/r.Seconds,
		ms(r.P50), ms(r.P99), ms(r.P99All), r.Errors, r.RSSBytes/(1<<20), r.Goroutines)
}

// SoakHeader is the header of the interval table String and Progress print.
const SoakHeader = "| from start | req/s | readings/s | single p50 ms | single p99 ms | all p99 ms | errors | API RSS MiB | goroutines |\n|---|---|---|---|---|---|---|---|---|"

func ms(d time.Duration) string { return strconv.FormatFloat(float64(d)/1e6, 'f', 2, 64) }

func quantile(ds []time.Duration, q float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	slices.Sort(ds)
	return ds[min(int(q*float64(len(ds))), len(ds)-1)]
}

// String formats the report as a Markdown table and a summary.
func (r SoakReport) String() string {
	var b strings.Builder
	fmt.Fprintln(&b, SoakHeader)
	for _, row := range r.Intervals {
		fmt.Fprintln(&b, row.line())
	}
	fmt.Fprintf(&b, "\nrequests %d, unexpected answers %d %v, generator drops %d\n", r.Requests, r.Errors, r.ErrorKinds, r.Dropped)
	for _, e := range r.TransportErrors {
		fmt.Fprintf(&b, "transport error: %s\n", e)
	}
	fmt.Fprintf(&b, "throughput drift (last interval vs first) %+.1f%%, single p99 drift %+.1f%%\n", 100*r.Drift, 100*r.P99Drift)
	fmt.Fprintf(&b, "idempotent duplicates: %d replayed, %d found the first still in flight (409)\n", r.Replays, r.Conflicts)
	fmt.Fprintf(&b, "durability: acknowledged %d readings, committed %d, lost %d, extra %d\n", r.Acknowledged, r.Committed, r.Lost, r.Extra)
	return b.String()
}

// soakGen builds and sends the requests.
type soakGen struct {
	o      SoakOptions
	base   time.Time // timestamps of duplicated readings count from here
	client *http.Client
	mu     sync.Mutex
	rng    *rand.Rand
	stored sync.Map // duplicate pair → *atomic.Int32 of fresh 201s
	// ts stamps single and batch readings with the clock, at least one
	// microsecond apart: readings are unique per sensor and timestamp, and
	// two requests' readings that met at one microsecond would be refused as
	// conflicting.
	ts clockStamps
}

// clockStamps hands out the current time at microseconds, never the same
// twice.
type clockStamps struct{ last atomic.Int64 }

func (c *clockStamps) next() time.Time {
	for {
		last, now := c.last.Load(), time.Now().UnixMicro()
		if now <= last {
			now = last + 1
		}
		if c.last.CompareAndSwap(last, now) {
			return time.UnixMicro(now).UTC()
		}
	}
}

func (g *soakGen) reading(ts time.Time) string {
	g.mu.Lock()
	a, s, v := g.rng.IntN(g.o.Assets), g.rng.IntN(g.o.SensorsPerAsset), 50+g.rng.NormFloat64()*5
	g.mu.Unlock()
	return fmt.Sprintf(`{"asset_id":%q,"sensor_id":%q,"ts":%q,"value":%.4f}`, assetID(a), sensorID(s), ts.UTC().Format(time.RFC3339Nano), v)
}

// do sends the n-th request of kind, due at due, and judges the answer.
func (g *soakGen) do(kind string, n int64, due time.Time) soakResult {
	now := time.Now().Add(-time.Duration(n%1000) * time.Millisecond)
	base := strings.TrimRight(g.o.BaseURL, "/")
	method, url, body := http.MethodPost, base+"/api/v1/readings", ""
	header := map[string]string{}
	res := soakResult{kind: kind, scheduled: due}
	switch kind {
	case KindSingle:
		body = g.reading(g.ts.next())
	case KindBatch:
		parts := make([]string, g.o.BatchSize)
		for i := range parts {
			parts[i] = g.reading(g.ts.next())
		}
		body = "[" + strings.Join(parts, ",") + "]"
	case KindQuery:
		method = http.MethodGet
		// A dashboard panel: one sensor's last minute, raw or in 10 s buckets.
		url = fmt.Sprintf("%s/api/v1/assets/%s/readings?sensor=%s&from=%s&limit=1000", base, assetID(int(n)%g.o.Assets),
			sensorID(int(n/int64(g.o.Assets))%g.o.SensorsPerAsset), now.Add(-time.Minute).UTC().Format(time.RFC3339))
		if n%2 == 1 {
			url += "&step=10s"
		}
	case KindInvalid:
		ts := now.UTC().Format(time.RFC3339Nano)
		switch n % 5 {
		case 0: // unknown field → 400
			body = `{"asset_id":"lt-asset-000","sensor_id":"s00","ts":"` + ts + `","value":1,"colour":"red"}`
		case 1: // an hour in the future → 422
			body = g.reading(now.Add(time.Hour))
		case 2: // unknown sensor → 422
			body = `{"asset_id":"lt-asset-000","sensor_id":"no-such-sensor","ts":"` + ts + `","value":1}`
		case 3: // cut short → 400
			body = `{"asset_id":"lt-asset-000","sensor_id":"s00","ts":`
		case 4: // value of the wrong type → 400
			body = `{"asset_id":"lt-asset-000","sensor_id":"s00","ts":"` + ts + `","value":"high"}`
		}
	case KindDuplicate:
		// Pairs: the 2k-th and (2k+1)-th requests carry the same key and body.
		pair := n / 2
		header["Idempotency-Key"] = fmt.Sprintf("soak-%d-%d", g.base.Unix(), pair)
		// Values stay in the normal band: the soak loads ingest, not incidents.
		body = fmt.Sprintf(`{"asset_id":%q,"sensor_id":%q,"ts":%q,"value":%d}`, assetID(int(pair)%g.o.Assets), sensorID(0),
			g.base.Add(time.Duration(pair)*time.Millisecond).Format(time.RFC3339Nano), 40+pair%20)
	}
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		res.err = err
		return res
	}
	req.Header.Set("X-API-Key", g.o.Key)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := g.client.Do(req)
	res.latency = time.Since(due)
	if err != nil {
		res.err = err
		return res
	}
	var sink bytes.Buffer
	io.Copy(&sink, resp.Body)
	resp.Body.Close()
	res.code = resp.StatusCode
	switch kind {
	case KindSingle:
		res.ok = res.code == http.StatusCreated
		if res.ok {
			res.readings = 1
		}
	case KindBatch:
		res.ok = res.code == http.StatusCreated
		if res.ok {
			res.readings = g.o.BatchSize
		}
	case KindQuery:
		res.ok = res.code == http.StatusOK
	case KindInvalid:
		res.ok = res.code == http.StatusBadRequest || res.code == http.StatusUnprocessableEntity
	case KindDuplicate:
		replayed := resp.Header.Get("Idempotent-Replayed") == "true"
		switch {
		case res.code == http.StatusCreated && replayed:
			res.ok, res.replay = true, true
		case res.code == http.StatusCreated:
			// Stored: fine once per pair, whichever of the two came first.
			c, _ := g.stored.LoadOrStore(n/2, new(atomic.Int32))
			res.ok, res.readings = c.(*atomic.Int32).Add(1) == 1, 1
		case res.code == http.StatusConflict:
			res.ok, res.conflict = true, true
		}
	}
	return res
}
