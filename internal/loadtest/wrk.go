package loadtest

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// RunWrk drives single-reading POSTs with wrk (Debian package "wrk"): a C
// load generator that costs a fraction of vegeta's CPU, which matters when
// generator and server share two cores. wrk runs closed-loop over Workers
// connections, so its latencies are those of a saturated server (no
// coordinated-omission correction). Durability is checked as in Run.
func RunWrk(ctx context.Context, o Options, key, name string) (Report, error) {
	bin, err := exec.LookPath("wrk")
	if err != nil {
		return Report{}, fmt.Errorf("loadtest: wrk not found (apt-get install -y wrk): %w", err)
	}
	before, err := o.DB.CountReadings(ctx, o.Tenant)
	if err != nil {
		return Report{}, err
	}
	// Requests rotate over pre-drawn readings spread over every sensor,
	// AnomalyRate of them past the alarm limit, so the batcher and the
	// detectors see the usual mix. Each request gets a fresh timestamp, one
	// microsecond apart per thread (readings are unique per sensor and
	// timestamp; a re-sent one would be a duplicate, not stored again).
	const threads = 2
	var lua strings.Builder
	fmt.Fprintf(&lua, "wrk.method = \"POST\"\nwrk.headers[\"Content-Type\"] = \"application/json\"\nwrk.headers[\"X-API-Key\"] = %q\n", key)
	lua.WriteString("local heads, tails = {}, {}\n")
	for _, b := range makeBatches(o, max(2000, o.Assets*o.SensorsPerAsset)) {
		r := b[0]
		fmt.Fprintf(&lua, "heads[#heads+1] = %q; tails[#tails+1] = %q\n",
			fmt.Sprintf(`{"asset_id":%q,"sensor_id":%q,"ts":"`, r.AssetID, r.SensorID), fmt.Sprintf(`","value":%g}`, r.Value))
	}
	fmt.Fprintf(&lua, `local origin = %d
local n = 0
setup = function(thread)
  thread:set("tid", n)
  n = n + 1
end
local i = 0
request = function()
  i = i + 1
  local us = origin - (i * %d + tid)
  local ts = os.date("!%%Y-%%m-%%dT%%H:%%M:%%S", math.floor(us / 1000000)) .. string.format(".%%06dZ", us %% 1000000)
  local k = (i %% #heads) + 1
  return wrk.format(nil, nil, nil, heads[k] .. ts .. tails[k])
end
`, time.Now().UnixMicro(), threads)
	dir, err := os.MkdirTemp("", "smartmaint-wrk")
	if err != nil {
		return Report{}, err
	}
	defer os.RemoveAll(dir)
	script := filepath.Join(dir, "post.lua")
	if err := os.WriteFile(script, []byte(lua.String()), 0o600); err != nil {
		return Report{}, err
	}
	url := strings.TrimRight(o.BaseURL, "/") + "/api/v1/readings"
	out, err := exec.CommandContext(ctx, bin, fmt.Sprintf("-t%d", threads), fmt.Sprintf("-c%d", max(o.Workers, 2)),
		fmt.Sprintf("-d%ds", int(o.Duration.Seconds())), "--latency", "-s", script, url).CombinedOutput()
	if err != nil {
		return Report{}, fmt.Errorf("loadtest: wrk: %w: %s", err, out)
	}
	r, err := parseWrk(string(out))
	if err != nil {
		return Report{}, err
	}
	r.Name = name
	after, err := o.DB.CountReadings(ctx, o.Tenant)
	if err != nil {
		return Report{}, err
	}
	r.Acknowledged, r.Committed = int64(r.Succeeded), after-before
	if r.Committed < r.Acknowledged {
		r.LostReadings = r.Acknowledged - r.Committed
	} else {
		r.ExtraReadings = r.Committed - r.Acknowledged
	}
	return r, nil
}

var (
	wrkTotal   = regexp.MustCompile(`(\d+) requests in ([\d.]+)(\w+),`)
	wrkPct     = regexp.MustCompile(`(?m)^\s+(50|75|90|99)%\s+([\d.]+)(us|ms|s)\s*$`)
	wrkMax     = regexp.MustCompile(`(?m)^\s+Latency\s+\S+\s+\S+\s+([\d.]+)(us|ms|s)`)
	wrkNon2xx  = regexp.MustCompile(`Non-2xx or 3xx responses: (\d+)`)
	wrkSockets = regexp.MustCompile(`Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)`)
)

// parseWrk reads wrk's --latency report.
func parseWrk(out string) (Report, error) {
	var r Report
	m := wrkTotal.FindStringSubmatch(out)
	if m == nil {
		return r, fmt.Errorf("loadtest: cannot read wrk's report: %s", out)
	}
	total, _ := strconv.ParseUint(m[1], 10, 64)
	secs, err := duration(m[2], m[3])
	if err != nil {
		return r, err
	}
	r.Requests = total
	failed := uint64(0)
	if m := wrkNon2xx.FindStringSubmatch(out); m != nil {
		n, _ := strconv.ParseUint(m[1], 10, 64)
		failed += n
		r.Errors = append(r.Errors, m[0])
	}
	if m := wrkSockets.FindStringSubmatch(out); m != nil {
		r.Errors = append(r.Errors, m[0])
	}
	r.Succeeded = total - failed
	r.StatusCodes = map[string]int{"2xx": int(r.Succeeded), "other": int(failed)}
	r.RequestsPerS = float64(total) / secs.Seconds()
	r.ReadingsPerS = float64(r.Succeeded) / secs.Seconds()
	for _, m := range wrkPct.FindAllStringSubmatch(out, -1) {
		d, err := duration(m[2], m[3])
		if err != nil {
			return r, err
		}
		switch m[1] {
		case "50":
			r.P50 = d
		case "90":
			r.P95 = d // wrk reports 50/75/90/99; P95 holds its 90th percentile
		case "99":
			r.P99 = d
		}
	}
	if m := wrkMax.FindStringSubmatch(out); m != nil {
		r.Max, _ = duration(m[1], m[2])
	}
	return r, nil
}

func duration(v, unit string) (time.Duration, error) {
	f, err := strconv.ParseFloat(v, 64)
	if err != nil {
		return 0, err
	}
	switch unit {
	case "us":
		return time.Duration(f * float64(time.Microsecond)), nil
	case "ms":
		return time.Duration(f * float64(time.Millisecond)), nil
	case "s":
		return time.Duration(f * float64(time.Second)), nil
	case "m":
		return time.Duration(f * float64(time.Minute)), nil
	}
	return 0, fmt.Errorf("loadtest: unknown wrk unit %q", unit)
}
