package detect

import (
	"context"
	"fmt"
	"math"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/singleflight"

	"github.com/smartmaint/smartmaint/internal/anomaly"
	"github.com/smartmaint/smartmaint/internal/binding"
	"github.com/smartmaint/smartmaint/internal/ml/modelfile"
	"github.com/smartmaint/smartmaint/internal/modelkind"
	"github.com/smartmaint/smartmaint/internal/registry"
	"github.com/smartmaint/smartmaint/internal/store"
)

// ModelPrefix starts the name of an asset type's default anomaly model:
// the champion of "iforest-milling-machine" scores the assets of type
// "milling-machine" unless a binding names another model.
const ModelPrefix = binding.ModelPrefix

// ModelName is the name of the default anomaly model of assetType.
func ModelName(assetType string) string { return binding.DefaultModelName(assetType) }

// MetadataFeature starts a feature source that is read from the asset's
// metadata rather than from a sensor: "asset.variant=L" is 1 when the
// asset's metadata has "variant": "L" and 0 otherwise (a one-hot
// encoding), and "asset.rated_power" is the numeric metadata value.
// Every other source is a sensor id of the asset.
const MetadataFeature = binding.MetadataFeature

// ModelSource serves the champion model of a tenant's model name. The
// registry's Loader[modelfile.Model] is one; Get must be cheap and safe for
// concurrent use, and return the same pointer until the model changes.
type ModelSource interface {
	Get(tenant, name string) (*registry.Loaded[modelfile.Model], bool)
}

// AssetSource tells the detector an asset's type and metadata. Generation
// changes whenever what Asset answers may have changed, so the detector
// looks the asset up again. AssetCache is the implementation over the
// database.
type AssetSource interface {
	Asset(tenant, id string) (*store.Asset, bool)
	Generation() uint64
}

// BindingSource tells the detector which model serves an asset type as a
// kind and where its features come from. Generation changes whenever what
// Binding answers may have changed; Binding must return the same pointer
// while the binding is unchanged. binding.Cache is the implementation over
// the database.
type BindingSource interface {
	Binding(tenant, assetType string, kind modelkind.Kind) (*binding.Binding, bool)
	Generation() uint64
}

// defaultBindings serves only binding.Default: the anomaly model named
// after the asset type, with identity features.
type defaultBindings struct {
	mu sync.Mutex
	m  map[string]*binding.Binding
}

func (d *defaultBindings) Binding(tenant, assetType string, kind modelkind.Kind) (*binding.Binding, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	k := tenant + "\x00" + assetType + "\x00" + string(kind)
	if b, ok := d.m[k]; ok {
		return b, b != nil
	}
	b, _ := binding.Default(tenant, assetType, kind)
	d.m[k] = b
	return b, b != nil
}

func (*defaultBindings) Generation() uint64 { return 0 }

// DefaultSnapshotWindow is how far apart in time the readings of one
// feature vector may be when Model.Window is zero.
const DefaultSnapshotWindow = 30 * time.Second

// maxModelFeatures bounds a model's inputs.
const maxModelFeatures = 1024

// Model serves one kind of bound model (modelkind.Kind) on the ingest
// path: for an asset whose type has a binding of that kind, the champion of
// the bound model scores the asset's feature vector, each feature read from
// the sensor (or asset metadata) the binding maps it to. It keeps the
// latest value of each feature sensor per asset. A reading that completes
// a snapshot — every sensor feature updated since the last score, all
// within Window of each other — has the vector scored once; other readings
// only update the vector, so the model runs once per snapshot, not once per
// reading. How a score becomes a finding depends on the kind:
//
//   - anomaly: the Isolation Forest's score at or above its threshold
//     (Meta.Threshold, derived from the contamination at training). Without
//     a stored binding the champion of ModelName(asset type) serves with
//     identity features. Name "model".
//   - failure_risk: the classifier's failure probability at or above the
//     threshold (the binding's, else Meta.Threshold, else 0.5); severity
//     by how far towards 1. Name "failure_risk".
//   - rul: the remaining useful life and its interval; a finding when the
//     interval's lower bound falls below the threshold (the binding's,
//     else Meta.Threshold), severity by how far below. Name "rul".
//   - bearing_health: the largest bearing health index above the threshold
//     (the binding's, else Meta.Threshold, else the model's own) for the
//     model's sustain count of snapshots in a row. Name "bearing_health".
//
// A finding has no Direction: it judges the asset, not whether the
// reading that completed the snapshot is high or low. The Reason of a
// finding names the model and version that raised it; for
// every kind but anomaly it is machine-readable: "<kind> key=value …" (see
// ReasonValues), e.g. "rul model=rul-engine version=3 rul=41.2 lower=22.0
// upper=63.5 threshold=30".
//
// Without a binding or a champion, or for sensors that are not one of the
// model's features, Model is silent. A promotion or a binding change is
// picked up on the next reading: the vectors are rebuilt for the new
// version's features.
//
// Model is safe for concurrent use and does not allocate for readings that
// are not anomalous, once it has seen each sensor.
type Model struct {
	kind     modelkind.Kind
	models   ModelSource
	assets   AssetSource
	bindings BindingSource
	window   int64 // nanoseconds

	shards [64]slotShard

	amu    sync.Mutex
	states map[assetRef]*assetState
}

type assetRef struct{ tenant, id string }

type slotShard struct {
	mu sync.RWMutex
	m  map[int64]*sensorSlot
}

// sensorSlot is what a sensor resolves to: its asset's state and the
// binding of the asset's type. It is replaced, not modified, when the
// asset or binding source's generation changes.
type sensorSlot struct {
	gen   uint64
	state *assetState      // nil: unknown asset
	bind  *binding.Binding // nil: no binding of the kind
	feat  atomic.Pointer[featureRef]
}

// featureRef is the sensor's position among a loaded model's features.
type featureRef struct {
	loaded  *registry.Loaded[modelfile.Model]
	feature int // -1: not an input of the model
}

// assetState is one asset's feature vector for the model and binding it
// was built for.
type assetState struct {
	mu       sync.Mutex
	asset    *store.Asset
	loaded   *registry.Loaded[modelfile.Model]
	bind     *binding.Binding
	usable   bool // the model's features fit and the metadata features resolved
	values   []float64
	ts       []int64  // unix nanoseconds per feature; 0 for metadata features
	stamp    []uint64 // the epoch in which each sensor feature was last set
	constant []bool   // metadata features, always fresh
	epoch    uint64   // counts scored snapshots
	have     int      // sensor features set in this epoch
	need     int      // sensor features
	streak   int      // abnormal snapshots in a row (bearing_health)
}

// NewModel returns the anomaly detector serving the default bindings
// (ModelName of the asset type, identity features) from models for the
// assets described by assets. window bounds the time between the oldest
// and the newest reading of a scored vector (DefaultSnapshotWindow when
// zero).
func NewModel(models ModelSource, assets AssetSource, window time.Duration) *Model {
	return NewBound(modelkind.Anomaly, models, assets, nil, window)
}

// NewBound returns the detector of kind serving the models bindings name
// (binding.Default only, when bindings is nil) from models for the assets
// described by assets; window as for NewModel.
func NewBound(kind modelkind.Kind, models ModelSource, assets AssetSource, bindings BindingSource, window time.Duration) *Model {
	if window <= 0 {
		window = DefaultSnapshotWindow
	}
	if bindings == nil {
		bindings = &defaultBindings{m: map[string]*binding.Binding{}}
	}
	d := &Model{kind: kind, models: models, assets: assets, bindings: bindings, window: int64(window), states: map[assetRef]*assetState{}}
	for i := range d.shards {
		d.shards[i].m = map[int64]*sensorSlot{}
	}
	return d
}

// Kind is the kind of model the detector serves.
func (d *Model) Kind() modelkind.Kind { return d.kind }

// Name implements Detector: "model" for the anomaly kind (its name before
// there were others), the kind's name otherwise.
func (d *Model) Name() string {
	if d.kind == modelkind.Anomaly {
		return "model"
	}
	return string(d.kind)
}

// modelKind is the model file kind of m.
func modelKind(m *modelfile.Model) string {
	if m.Meta.Kind != "" {
		return m.Meta.Kind
	}
	return modelfile.KindOf(m.Scorer)
}

// Observe implements Detector.
func (d *Model) Observe(r Reading) Finding {
	slot := d.slot(r)
	if slot.state == nil || slot.bind == nil {
		return Finding{}
	}
	m, ok := d.models.Get(r.Tenant, slot.bind.Model)
	if !ok {
		return Finding{}
	}
	f := slot.feat.Load()
	if f == nil || f.loaded != m {
		f = &featureRef{loaded: m, feature: -1}
		// A model of another kind is not served; one whose kind is unknown
		// (built in memory, not read from a file) is trusted.
		if k := modelKind(&m.Model); k == "" || d.kind.Accepts(k) {
			for i, name := range m.Model.Meta.FeatureNames {
				if slot.bind.Source(name) == r.Sensor.ID {
					f.feature = i
					break
				}
			}
		}
		slot.feat.Store(f)
	}
	if f.feature < 0 {
		return Finding{}
	}
	a := slot.state
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.loaded != m || a.bind != slot.bind {
		a.reset(m, slot.bind)
	}
	if !a.usable {
		return Finding{}
	}
	i := f.feature
	ts := r.TS.UnixNano()
	if ts < a.ts[i] {
		return Finding{} // an older value than the one held
	}
	a.values[i], a.ts[i] = r.Value, ts
	if a.stamp[i] != a.epoch {
		a.stamp[i] = a.epoch
		a.have++
	}
	if a.have < a.need {
		return Finding{}
	}
	oldest, newest := ts, ts
	for j, t := range a.ts {
		if !a.constant[j] {
			oldest, newest = min(oldest, t), max(newest, t)
		}
	}
	if newest-oldest > d.window {
		return Finding{} // keep waiting for the stale features to report
	}
	a.epoch++
	a.have = 0
	return d.judge(m, slot.bind, a)
}

// judge turns the score of a's complete vector into a finding.
func (d *Model) judge(m *registry.Loaded[modelfile.Model], b *binding.Binding, a *assetState) Finding {
	meta := &m.Model.Meta
	switch d.kind {
	case modelkind.FailureRisk:
		return failureRisk(m, b.ThresholdOr(meta.Threshold), a.values)
	case modelkind.RUL:
		return remainingLife(m, b.ThresholdOr(meta.Threshold), a.values)
	case modelkind.BearingHealth:
		return bearingHealth(m, b, a)
	}
	return anomalyScore(m, b.ThresholdOr(meta.Threshold), a)
}

// anomalyScore judges an Isolation Forest's score.
func anomalyScore(m *registry.Loaded[modelfile.Model], threshold float64, a *assetState) Finding {
	score := m.Model.Scorer.Score(a.values)
	threshold, over, ok := pastThreshold(score, threshold)
	if !ok {
		return Finding{}
	}
	return Finding{
		Anomalous: true,
		Score:     0.5 + 0.5*math.Min(1, over),
		Severity:  thirds(over),
		Reason: fmt.Sprintf("%s v%d "+snapshotScores+" %.3f, at or above its threshold %.3f (%s)",
			m.Version.Name, m.Version.Version, score, threshold, describe(m.Model.Meta.FeatureNames, a.values, a.constant)),
	}
}

// pastThreshold compares a score in [0, 1] with threshold (0.5 when not
// inside (0, 1)): ok when the score reaches it, with how far past it the
// score is as a share of the way to 1.
func pastThreshold(score, threshold float64) (t, over float64, ok bool) {
	if !(threshold > 0 && threshold < 1) {
		threshold = 0.5
	}
	if !(score >= threshold) {
		return threshold, 0, false
	}
	return threshold, (score - threshold) / (1 - threshold), true
}

// thirds is the severity of a finding over of the way from its threshold
// to the top of the scale.
func thirds(over float64) anomaly.Severity {
	switch {
	case over >= 2.0/3:
		return anomaly.Critical
	case over >= 1.0/3:
		return anomaly.Major
	}
	return anomaly.Minor
}

// failureRisk judges a classifier's failure probability.
func failureRisk(m *registry.Loaded[modelfile.Model], threshold float64, x []float64) Finding {
	p := m.Model.Scorer.Score(x)
	threshold, over, ok := pastThreshold(p, threshold)
	if !ok {
		return Finding{}
	}
	return Finding{
		Anomalous: true,
		Score:     p,
		Severity:  thirds(over),
		Reason: fmt.Sprintf("%s model=%s version=%d probability=%.4f threshold=%.4g",
			modelkind.FailureRisk, m.Version.Name, m.Version.Version, p, threshold),
	}
}

// intervalPredictor is a remaining-useful-life model with an interval
// (rul.Model).
type intervalPredictor interface {
	Predict(x []float64) (rul, lower, upper float64)
}

// remainingLife judges a remaining-useful-life estimate by its interval's
// lower bound.
func remainingLife(m *registry.Loaded[modelfile.Model], threshold float64, x []float64) Finding {
	if !(threshold > 0) {
		return Finding{}
	}
	var est, lower, upper float64
	if p, ok := m.Model.Scorer.(intervalPredictor); ok {
		est, lower, upper = p.Predict(x)
	} else {
		est = m.Model.Scorer.Score(x)
		lower, upper = est, est
	}
	if !(lower < threshold) {
		return Finding{}
	}
	frac := max(lower, 0) / threshold // 0 (no life left) … 1 (at the threshold)
	sev := anomaly.Minor
	switch {
	case frac < 1.0/3:
		sev = anomaly.Critical
	case frac < 2.0/3:
		sev = anomaly.Major
	}
	return Finding{
		Anomalous: true,
		Score:     0.5 + 0.5*(1-frac),
		Severity:  sev,
		Reason: fmt.Sprintf("%s model=%s version=%d rul=%.4g lower=%.4g upper=%.4g threshold=%.4g",
			modelkind.RUL, m.Version.Name, m.Version.Version, est, lower, upper, threshold),
	}
}

// Optional methods of a bearing health model (bearing.HealthModel).
type (
	alarmThresholder interface{ AlarmThreshold() float64 }
	alarmSustainer   interface{ AlarmSustain() int }
)

// bearingHealth judges a bearing health index, raising a finding once it
// has stayed above the threshold for the model's sustain count.
func bearingHealth(m *registry.Loaded[modelfile.Model], b *binding.Binding, a *assetState) Finding {
	h := m.Model.Scorer.Score(a.values)
	if math.IsNaN(h) {
		return Finding{} // no bearing running: neither raises nor clears
	}
	threshold := m.Model.Meta.Threshold
	if t, ok := m.Model.Scorer.(alarmThresholder); ok && !(threshold > 0) {
		threshold = t.AlarmThreshold()
	}
	threshold = b.ThresholdOr(threshold)
	if !(threshold > 0) {
		return Finding{}
	}
	if !(h > threshold) {
		a.streak = 0
		return Finding{}
	}
	a.streak++
	sustain := 1
	if s, ok := m.Model.Scorer.(alarmSustainer); ok {
		sustain = max(s.AlarmSustain(), 1)
	}
	if a.streak < sustain {
		return Finding{}
	}
	sev := anomaly.Minor
	switch {
	case h >= 2.5*threshold:
		sev = anomaly.Critical
	case h >= 1.5*threshold:
		sev = anomaly.Major
	}
	return Finding{
		Anomalous: true,
		Score:     1 - 0.5*math.Exp(-(h-threshold)/threshold),
		Severity:  sev,
		Reason: fmt.Sprintf("%s model=%s version=%d health=%.4g threshold=%.4g streak=%d",
			modelkind.BearingHealth, m.Version.Name, m.Version.Version, h, threshold, a.streak),
	}
}

// snapshotScores follows the model and version in an anomaly model's
// reason.
const snapshotScores = "scores the asset's snapshot"

// ReasonMarks returns the substrings of which one appears in the reason of
// every finding version of the model name raised, whatever its kind: what
// attributes a stored anomaly to a model version.
func ReasonMarks(name string, version int) []string {
	return []string{
		fmt.Sprintf("%s v%d %s ", name, version, snapshotScores),
		fmt.Sprintf(" model=%s version=%d ", name, version),
	}
}

// ReasonValues returns the key=value pairs of the part of an anomaly's
// reason that the model detector of kind wrote ("rul model=rul-engine
// version=3 rul=41.2 lower=22 upper=63.5 threshold=30"), nil when the
// reason has none. Reasons of several detectors are joined with "; ".
func ReasonValues(reason string, kind modelkind.Kind) map[string]string {
	for part := range strings.SplitSeq(reason, "; ") {
		rest, ok := strings.CutPrefix(part, string(kind)+" ")
		if !ok {
			continue
		}
		out := map[string]string{}
		for _, f := range strings.Fields(rest) {
			if k, v, ok := strings.Cut(f, "="); ok {
				out[k] = v
			}
		}
		return out
	}
	return nil
}

// describe lists the sensor features of a vector, for the reason.
func describe(names []string, values []float64, constant []bool) string {
	var b strings.Builder
	for i, name := range names {
		if constant[i] {
			continue
		}
		if b.Len() > 0 {
			b.WriteString(", ")
		}
		b.WriteString(name)
		b.WriteByte('=')
		b.WriteString(strconv.FormatFloat(values[i], 'g', 5, 64))
	}
	return b.String()
}

// reset rebuilds the vector for model m served through binding b: sizes,
// metadata features.
func (a *assetState) reset(m *registry.Loaded[modelfile.Model], b *binding.Binding) {
	names := m.Model.Meta.FeatureNames
	a.loaded, a.bind, a.usable = m, b, false
	a.have, a.need, a.streak = 0, 0, 0
	if len(names) == 0 || len(names) > maxModelFeatures || m.Model.Scorer == nil || m.Model.Scorer.NumFeatures() != len(names) {
		return
	}
	a.values = make([]float64, len(names))
	a.ts = make([]int64, len(names))
	a.stamp = make([]uint64, len(names))
	a.constant = make([]bool, len(names))
	a.epoch = 1
	for i, name := range names {
		spec, ok := strings.CutPrefix(b.Source(name), MetadataFeature)
		if !ok {
			a.need++
			continue
		}
		v, ok := MetadataValue(a.asset.Metadata, spec)
		if !ok {
			return
		}
		a.values[i] = v
		a.constant[i] = true
	}
	a.usable = true
}

// MetadataValue evaluates "key=value" (one-hot) or "key" (a number) on
// an asset's metadata.
func MetadataValue(meta map[string]any, spec string) (float64, bool) {
	if key, want, ok := strings.Cut(spec, "="); ok {
		if fmt.Sprint(meta[key]) == want {
			return 1, true
		}
		return 0, true
	}
	switch v := meta[spec].(type) {
	case float64:
		return v, true
	case int:
		return float64(v), true
	case string:
		f, err := strconv.ParseFloat(v, 64)
		return f, err == nil
	}
	return 0, false
}

// slot returns what r's sensor resolves to, resolving it on first sight
// and whenever the asset or binding source's generation changes.
func (d *Model) slot(r Reading) *sensorSlot {
	// Both generations only grow, so their sum changes when either does.
	gen := d.assets.Generation() + d.bindings.Generation()
	sh := &d.shards[uint64(r.Sensor.Key)%uint64(len(d.shards))]
	sh.mu.RLock()
	s := sh.m[r.Sensor.Key]
	sh.mu.RUnlock()
	if s != nil && s.gen == gen {
		return s
	}
	s = &sensorSlot{gen: gen}
	if asset, ok := d.assets.Asset(r.Tenant, r.Sensor.AssetID); ok {
		s.state = d.state(r.Tenant, asset)
		s.bind, _ = d.bindings.Binding(r.Tenant, asset.Type, d.kind)
	}
	sh.mu.Lock()
	sh.m[r.Sensor.Key] = s
	sh.mu.Unlock()
	return s
}

// state returns the asset's vector, rebuilt when the asset's description
// changed.
func (d *Model) state(tenant string, asset *store.Asset) *assetState {
	d.amu.Lock()
	defer d.amu.Unlock()
	k := assetRef{tenant, asset.ID}
	st := d.states[k]
	if st == nil {
		st = &assetState{asset: asset}
		d.states[k] = st
		return st
	}
	st.mu.Lock()
	if !reflect.DeepEqual(st.asset.Metadata, asset.Metadata) {
		st.loaded = nil // metadata features may have changed
	}
	st.asset = asset
	st.mu.Unlock()
	return st
}

// AssetCache is an AssetSource over the database. A tenant's assets are
// loaded in one query the first time one of them is asked for (the only
// load a caller waits for); after that they are reloaded in the background
// once older than TTL, and at once — at most once a second — when an
// unknown asset is asked for, which stays unknown until the reload is done.
// A failed load leaves the previous entries (or none) in place.
type AssetCache struct {
	db  *store.DB
	ttl time.Duration
	gen atomic.Uint64

	mu      sync.RWMutex
	tenants map[string]*tenantAssets
	group   singleflight.Group
}

type tenantAssets struct {
	byID     map[string]*store.Asset
	loadedAt time.Time
}

// NewAssetCache returns an empty cache over db; ttl is one minute when
// zero.
func NewAssetCache(db *store.DB, ttl time.Duration) *AssetCache {
	if ttl <= 0 {
		ttl = time.Minute
	}
	return &AssetCache{db: db, ttl: ttl, tenants: map[string]*tenantAssets{}}
}

// Generation implements AssetSource: it counts reloads.
func (c *AssetCache) Generation() uint64 { return c.gen.Load() }

// Asset implements AssetSource.
func (c *AssetCache) Asset(tenant, id string) (*store.Asset, bool) {
	c.mu.RLock()
	ta := c.tenants[tenant]
	c.mu.RUnlock()
	if ta == nil {
		ta = c.load(tenant)
	} else if age := time.Since(ta.loadedAt); age >= c.ttl || (ta.byID[id] == nil && age >= time.Second) {
		go c.load(tenant)
	}
	a := ta.byID[id]
	return a, a != nil
}

// load reads every asset of tenant, one load per tenant at a time, and
// returns what is cached afterwards.
func (c *AssetCache) load(tenant string) *tenantAssets {
	v, _, _ := c.group.Do(tenant, func() (any, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		ta := &tenantAssets{byID: map[string]*store.Asset{}, loadedAt: time.Now()}
		page := store.Page{Limit: 1000}
		var err error
		for {
			var assets []store.Asset
			if assets, err = c.db.ListAssets(ctx, tenant, "", page); err != nil {
				break
			}
			for i := range assets {
				ta.byID[assets[i].ID] = &assets[i]
			}
			if len(assets) < page.Limit {
				break
			}
			page.After = assets[len(assets)-1].ID
		}
		c.mu.Lock()
		defer c.mu.Unlock()
		if err != nil {
			// Keep what we had; a later Asset call tries again.
			old := c.tenants[tenant]
			if old == nil {
				old = &tenantAssets{byID: map[string]*store.Asset{}}
			}
			ta = &tenantAssets{byID: old.byID, loadedAt: time.Now()}
		}
		c.tenants[tenant] = ta
		c.gen.Add(1)
		return ta, nil
	})
	return v.(*tenantAssets)
}
