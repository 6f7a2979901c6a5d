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
	"github.com/smartmaint/smartmaint/internal/ml/modelfile"
	"github.com/smartmaint/smartmaint/internal/registry"
	"github.com/smartmaint/smartmaint/internal/store"
)

// ModelPrefix starts the name of an asset type's anomaly model: the
// champion of "iforest-milling-machine" scores the assets of type
// "milling-machine".
const ModelPrefix = "iforest-"

// ModelName is the name of the anomaly model of assetType.
func ModelName(assetType string) string { return ModelPrefix + assetType }

// MetadataFeature starts a feature name that is read from the asset's
// metadata rather than from a sensor: "asset.variant=L" is 1 when the
// asset's metadata has "variant": "L" and 0 otherwise (a one-hot
// encoding), and "asset.rated_power" is the numeric metadata value.
// Every other feature name is a sensor id of the asset.
const MetadataFeature = "asset."

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

// DefaultSnapshotWindow is how far apart in time the readings of one
// feature vector may be when Model.Window is zero.
const DefaultSnapshotWindow = 30 * time.Second

// maxModelFeatures bounds a model's inputs: freshness is a 64-bit mask.
const maxModelFeatures = 64

// Model scores an asset's feature vector with the champion model of its
// asset type (ModelName). It keeps the latest value of each feature sensor
// per asset. A reading that completes a snapshot — every sensor feature
// updated since the last score, all within Window of each other — has the
// vector scored once, and is anomalous when the score reaches the model's
// threshold (Meta.Threshold, derived from the contamination at training).
// Other readings only update the vector, so the trees run once per snapshot,
// not once per reading.
//
// Without a champion for the asset type, or for sensors that are not one
// of the model's features, Model is silent. A promotion is picked up on the
// next reading: the vectors are rebuilt for the new version's features. The
// Reason of a finding names the model and version that flagged it.
//
// Model is safe for concurrent use and does not allocate for readings that
// are not anomalous, once it has seen each sensor.
type Model struct {
	models ModelSource
	assets AssetSource
	window int64 // nanoseconds

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
// model of the asset's type. It is replaced, not modified, when the asset
// source's generation changes.
type sensorSlot struct {
	gen   uint64
	state *assetState // nil: unknown asset
	model string
	bind  atomic.Pointer[binding]
}

// binding is the sensor's position among a loaded model's features.
type binding struct {
	loaded  *registry.Loaded[modelfile.Model]
	feature int // -1: not an input of the model
}

// assetState is one asset's feature vector for the model it was built for.
type assetState struct {
	mu       sync.Mutex
	asset    *store.Asset
	loaded   *registry.Loaded[modelfile.Model]
	usable   bool // the model's features fit and the metadata features resolved
	values   []float64
	ts       []int64 // unix nanoseconds per feature; 0 for metadata features
	fresh    uint64  // features set since the last score
	full     uint64  // every feature
	constant uint64  // metadata features, always fresh
}

// NewModel returns a detector serving models from models for the assets
// described by assets. window bounds the time between the oldest and the
// newest reading of a scored vector (DefaultSnapshotWindow when zero).
func NewModel(models ModelSource, assets AssetSource, window time.Duration) *Model {
	if window <= 0 {
		window = DefaultSnapshotWindow
	}
	d := &Model{models: models, assets: assets, window: int64(window), states: map[assetRef]*assetState{}}
	for i := range d.shards {
		d.shards[i].m = map[int64]*sensorSlot{}
	}
	return d
}

// Name implements Detector.
func (d *Model) Name() string { return "model" }

// Observe implements Detector.
func (d *Model) Observe(r Reading) Finding {
	slot := d.slot(r)
	if slot.state == nil {
		return Finding{}
	}
	m, ok := d.models.Get(r.Tenant, slot.model)
	if !ok {
		return Finding{}
	}
	b := slot.bind.Load()
	if b == nil || b.loaded != m {
		b = &binding{loaded: m, feature: -1}
		for i, name := range m.Model.Meta.FeatureNames {
			if name == r.Sensor.ID {
				b.feature = i
				break
			}
		}
		slot.bind.Store(b)
	}
	if b.feature < 0 {
		return Finding{}
	}
	a := slot.state
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.loaded != m {
		a.reset(m)
	}
	if !a.usable {
		return Finding{}
	}
	ts := r.TS.UnixNano()
	if ts < a.ts[b.feature] {
		return Finding{} // an older value than the one held
	}
	a.values[b.feature], a.ts[b.feature] = r.Value, ts
	a.fresh |= 1 << b.feature
	if a.fresh != a.full {
		return Finding{}
	}
	oldest, newest := ts, ts
	for i, t := range a.ts {
		if a.constant&(1<<i) == 0 {
			oldest, newest = min(oldest, t), max(newest, t)
		}
	}
	if newest-oldest > d.window {
		return Finding{} // keep waiting for the stale features to report
	}
	a.fresh = a.constant
	meta := &m.Model.Meta
	score := m.Model.Scorer.Score(a.values)
	threshold := meta.Threshold
	if threshold <= 0 || threshold >= 1 {
		threshold = 0.5
	}
	if !(score >= threshold) {
		return Finding{}
	}
	// Severity by how far past the threshold, in thirds of the way to 1.
	over := (score - threshold) / (1 - threshold)
	sev := anomaly.Minor
	switch {
	case over >= 2.0/3:
		sev = anomaly.Critical
	case over >= 1.0/3:
		sev = anomaly.Major
	}
	return Finding{
		Anomalous: true,
		Score:     0.5 + 0.5*math.Min(1, over),
		Severity:  sev,
		Reason: fmt.Sprintf("%s v%d scores the asset's snapshot %.3f, at or above its threshold %.3f (%s)",
			m.Version.Name, m.Version.Version, score, threshold, describe(meta.FeatureNames, a.values, a.constant)),
	}
}

// describe lists the sensor features of a vector, for the reason.
func describe(names []string, values []float64, constant uint64) string {
	var b strings.Builder
	for i, name := range names {
		if constant&(1<<i) != 0 {
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

// reset rebuilds the vector for model m: sizes, metadata features.
func (a *assetState) reset(m *registry.Loaded[modelfile.Model]) {
	names := m.Model.Meta.FeatureNames
	a.loaded, a.usable = m, false
	a.fresh, a.full, a.constant = 0, 0, 0
	if len(names) == 0 || len(names) > maxModelFeatures || m.Model.Scorer == nil || m.Model.Scorer.NumFeatures() != len(names) {
		return
	}
	a.values = make([]float64, len(names))
	a.ts = make([]int64, len(names))
	for i, name := range names {
		a.full |= 1 << i
		if !strings.HasPrefix(name, MetadataFeature) {
			continue
		}
		v, ok := MetadataValue(a.asset.Metadata, strings.TrimPrefix(name, MetadataFeature))
		if !ok {
			return
		}
		a.values[i] = v
		a.constant |= 1 << i
	}
	a.fresh = a.constant
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
// and whenever the asset source's generation changes.
func (d *Model) slot(r Reading) *sensorSlot {
	gen := d.assets.Generation()
	sh := &d.shards[uint64(r.Sensor.Key)%uint64(len(d.shards))]
	sh.mu.RLock()
	s := sh.m[r.Sensor.Key]
	sh.mu.RUnlock()
	if s != nil && s.gen == gen {
		return s
	}
	s = &sensorSlot{gen: gen}
	if asset, ok := d.assets.Asset(r.Tenant, r.Sensor.AssetID); ok {
		s.model = ModelName(asset.Type)
		s.state = d.state(r.Tenant, asset)
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
