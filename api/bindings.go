package api

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"slices"
	"strings"

	"github.com/gorilla/mux"

	"github.com/smartmaint/smartmaint/internal/apikey"
	"github.com/smartmaint/smartmaint/internal/auth"
	"github.com/smartmaint/smartmaint/internal/binding"
	"github.com/smartmaint/smartmaint/internal/ml/modelfile"
	"github.com/smartmaint/smartmaint/internal/modelkind"
	"github.com/smartmaint/smartmaint/internal/registry"
	"github.com/smartmaint/smartmaint/internal/store"

	// The model file kinds bindings can name, so that their champions
	// decode here.
	_ "github.com/smartmaint/smartmaint/internal/ml/bearing"
	_ "github.com/smartmaint/smartmaint/internal/ml/rul"
)

// Bindings serves which registered model serves an asset type as which
// kind (GET/PUT/DELETE /api/v1/asset-types/{type}/models/{kind}) and the
// kinds themselves (GET /api/v1/model-kinds). Reading needs readings:read,
// changing models:write. A binding is accepted only when the model has a
// champion of a model file kind the binding's kind accepts and every one of
// its features has a source (see binding.Check).
type Bindings struct {
	DB       *store.DB
	Store    *binding.Store
	Registry *registry.Registry
	// Changed, when set, is called after a binding changed, so the
	// detector of this process reloads at once (binding.Cache.Refresh);
	// other processes notice within their refresh interval.
	Changed func(context.Context) error
}

// Register mounts the binding routes.
func (h *Bindings) Register(v1 *mux.Router) {
	v1.Handle("/model-kinds", Require(apikey.ReadingsRead, h.kinds)).Methods(http.MethodGet)
	v1.Handle("/asset-types/{type}/models", Require(apikey.ReadingsRead, h.list)).Methods(http.MethodGet)
	v1.Handle("/asset-types/{type}/models/{kind}", Require(apikey.ReadingsRead, h.get)).Methods(http.MethodGet)
	v1.Handle("/asset-types/{type}/models/{kind}", Require(apikey.ModelsWrite, h.put)).Methods(http.MethodPut)
	v1.Handle("/asset-types/{type}/models/{kind}", Require(apikey.ModelsWrite, h.delete)).Methods(http.MethodDelete)
}

// kindView describes a modelkind.Kind.
type kindView struct {
	Kind modelkind.Kind `json:"kind"`
	// ModelKinds are the model file kinds that can serve it.
	ModelKinds  []string `json:"model_kinds"`
	NeedsLabels bool     `json:"needs_labels"`
	// Default is the model an asset type uses without a binding of the
	// kind, with a {type} placeholder; empty when there is none.
	Default string `json:"default_model,omitempty"`
}

// kinds handles GET /api/v1/model-kinds.
func (h *Bindings) kinds(w http.ResponseWriter, _ *http.Request) {
	out := make([]kindView, 0, len(modelkind.Kinds))
	for _, k := range modelkind.Kinds {
		v := kindView{Kind: k, ModelKinds: k.ModelKinds(), NeedsLabels: k.NeedsLabels()}
		if d, ok := binding.Default("", "{type}", k); ok {
			v.Default = d.Model
		}
		out = append(out, v)
	}
	WriteJSON(w, http.StatusOK, map[string]any{"kinds": out})
}

// champion is the champion version a binding was checked against.
type champion struct {
	Version   int      `json:"version"`
	ModelKind string   `json:"model_kind"`
	Features  []string `json:"features"`
	// Threshold is the model file's; the binding's overrides it.
	Threshold float64 `json:"threshold"`
}

// bindingView is a binding as the API answers it.
type bindingView struct {
	binding.Binding
	Champion *champion `json:"champion,omitempty"`
	// Warnings name sensor sources that no asset of the type has yet.
	Warnings []string `json:"warnings,omitempty"`
}

// pathBinding reads {type} and {kind}, answering 400/404 when either is
// unusable.
func pathBinding(w http.ResponseWriter, r *http.Request) (string, modelkind.Kind, bool) {
	v := mux.Vars(r)
	assetType := v["type"]
	if assetType == "" || len(assetType) > 128 {
		WriteError(w, r, http.StatusBadRequest, "invalid_param", "asset type: 1 to 128 characters", []ParamError{{"type", "1 to 128 characters"}})
		return "", "", false
	}
	kind, ok := modelkind.Parse(v["kind"])
	if !ok {
		WriteError(w, r, http.StatusNotFound, "unknown_kind",
			fmt.Sprintf("no model kind %q; the kinds are %s", v["kind"], strings.Join(modelkind.Strings(), ", ")),
			map[string]any{"kinds": modelkind.Strings()})
		return "", "", false
	}
	return assetType, kind, true
}

// list handles GET /api/v1/asset-types/{type}/models: the bindings serving
// the type, the default anomaly binding included when none is stored.
func (h *Bindings) list(w http.ResponseWriter, r *http.Request) {
	assetType := mux.Vars(r)["type"]
	tenant := Tenant(r)
	stored, err := h.Store.List(r.Context(), tenant, assetType)
	if err != nil {
		WriteInternal(w, r, err)
		return
	}
	out := make([]bindingView, 0, len(stored)+1)
	for _, k := range modelkind.Kinds {
		i := slices.IndexFunc(stored, func(b binding.Binding) bool { return b.Kind == k })
		if i >= 0 {
			out = append(out, bindingView{Binding: stored[i]})
		} else if d, ok := binding.Default(tenant, assetType, k); ok {
			out = append(out, bindingView{Binding: *d})
		}
	}
	WriteJSON(w, http.StatusOK, map[string]any{"asset_type": assetType, "bindings": out})
}

// get handles GET /api/v1/asset-types/{type}/models/{kind}.
func (h *Bindings) get(w http.ResponseWriter, r *http.Request) {
	assetType, kind, ok := pathBinding(w, r)
	if !ok {
		return
	}
	b, err := h.Store.Get(r.Context(), Tenant(r), assetType, kind)
	if errors.Is(err, store.ErrNotFound) {
		if d, ok := binding.Default(Tenant(r), assetType, kind); ok {
			WriteJSON(w, http.StatusOK, bindingView{Binding: *d})
			return
		}
	}
	writeStored(w, r, bindingView{Binding: b}, err)
}

// bindingBody is the body of PUT /api/v1/asset-types/{type}/models/{kind}.
type bindingBody struct {
	Model     string            `json:"model"`
	Features  map[string]string `json:"features"`
	Threshold *float64          `json:"threshold"`
}

// put handles PUT /api/v1/asset-types/{type}/models/{kind}: it checks the
// binding against the model's champion and stores it. 200 with the binding,
// the champion it was checked against and warnings; 422 unknown_model,
// no_champion, unreadable_model, incompatible_model or invalid_binding.
func (h *Bindings) put(w http.ResponseWriter, r *http.Request) {
	assetType, kind, ok := pathBinding(w, r)
	if !ok {
		return
	}
	var body bindingBody
	if !DecodeJSON(w, r, &body) {
		return
	}
	ctx := r.Context()
	p, _ := auth.FromContext(ctx)
	b := binding.Binding{TenantID: p.TenantID, AssetType: assetType, Kind: kind, Model: strings.TrimSpace(body.Model),
		Features: body.Features, Threshold: body.Threshold, UpdatedBy: fmt.Sprintf("api key %s (%s)", p.KeyName, p.KeyPrefix)}
	if b.Features == nil {
		b.Features = map[string]string{}
	}
	if !registry.ValidName(b.Model) {
		WriteError(w, r, http.StatusUnprocessableEntity, "invalid_binding", "the binding is invalid",
			[]binding.Problem{{Field: "model", Message: "the name of a registered model is required"}})
		return
	}
	if t := b.Threshold; t != nil && (math.IsNaN(*t) || math.IsInf(*t, 0)) {
		WriteError(w, r, http.StatusUnprocessableEntity, "invalid_binding", "the binding is invalid",
			[]binding.Problem{{Field: "threshold", Message: "a finite number"}})
		return
	}
	ch, meta, ok := h.champion(w, r, b.Model, kind)
	if !ok {
		return
	}
	if problems := binding.Check(&b, meta); len(problems) > 0 {
		code, msg := "invalid_binding", "the binding does not fit the champion of "+b.Model
		if problems[0].Field == "model" {
			code, msg = "incompatible_model", problems[0].Message
		}
		WriteError(w, r, http.StatusUnprocessableEntity, code, msg, problems)
		return
	}
	warnings, err := h.missingSensors(ctx, &b, meta.FeatureNames)
	if err != nil {
		WriteInternal(w, r, err)
		return
	}
	stored, err := h.Store.Put(ctx, b)
	if errors.Is(err, store.ErrNotFound) {
		WriteError(w, r, http.StatusUnprocessableEntity, "unknown_model", fmt.Sprintf("model %q is not registered", b.Model), nil)
		return
	}
	if err != nil {
		WriteStoreError(w, r, err)
		return
	}
	h.changed(ctx)
	WriteJSON(w, http.StatusOK, bindingView{Binding: stored, Champion: &ch, Warnings: warnings})
}

// champion resolves and reads the champion of model, answering 422 when
// there is none or it cannot be read.
func (h *Bindings) champion(w http.ResponseWriter, r *http.Request, model string, kind modelkind.Kind) (champion, modelfile.Metadata, bool) {
	ctx := r.Context()
	tenant := Tenant(r)
	m, err := h.Registry.Model(ctx, tenant, model)
	if errors.Is(err, store.ErrNotFound) {
		WriteError(w, r, http.StatusUnprocessableEntity, "unknown_model",
			fmt.Sprintf("model %q is not registered for this tenant; register a version and promote it to %s first", model, registry.Champion),
			[]binding.Problem{{Field: "model", Message: "not registered"}})
		return champion{}, modelfile.Metadata{}, false
	}
	if err != nil {
		WriteInternal(w, r, err)
		return champion{}, modelfile.Metadata{}, false
	}
	version, ok := m.Aliases[registry.Champion]
	if !ok {
		WriteError(w, r, http.StatusUnprocessableEntity, "no_champion",
			fmt.Sprintf("model %q has no %s; promote a version first (POST /api/v1/models/%s/promote)", model, registry.Champion, model),
			[]binding.Problem{{Field: "model", Message: "no champion"}})
		return champion{}, modelfile.Metadata{}, false
	}
	v, err := h.Registry.Version(ctx, tenant, model, version)
	if err != nil {
		WriteInternal(w, r, err)
		return champion{}, modelfile.Metadata{}, false
	}
	data, err := h.Registry.Load(ctx, v)
	if err != nil {
		WriteInternal(w, r, err)
		return champion{}, modelfile.Metadata{}, false
	}
	mf, err := modelfile.Unmarshal(data)
	if err != nil {
		WriteError(w, r, http.StatusUnprocessableEntity, "unreadable_model",
			fmt.Sprintf("the champion of %q (version %d) is not a model file a %s binding can serve: %v", model, version, kind, err),
			map[string]any{"accepted_model_kinds": kind.ModelKinds()})
		return champion{}, modelfile.Metadata{}, false
	}
	return champion{Version: version, ModelKind: mf.Meta.Kind, Features: mf.Meta.FeatureNames, Threshold: mf.Meta.Threshold}, mf.Meta, true
}

// missingSensors names the sensor sources that the first asset of the
// binding's type lacks; none when the tenant has no asset of the type yet.
func (h *Bindings) missingSensors(ctx context.Context, b *binding.Binding, features []string) ([]string, error) {
	if h.DB == nil {
		return nil, nil
	}
	assets, err := h.DB.ListAssets(ctx, b.TenantID, b.AssetType, store.Page{Limit: 1})
	if err != nil || len(assets) == 0 {
		return nil, err
	}
	sensors, err := h.DB.ListSensors(ctx, b.TenantID, assets[0].ID)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, f := range features {
		src := b.Source(f)
		if strings.HasPrefix(src, binding.MetadataFeature) {
			continue
		}
		if !slices.ContainsFunc(sensors, func(s store.Sensor) bool { return s.ID == src }) {
			out = append(out, fmt.Sprintf("asset %s has no sensor %q (feature %q): the detector stays silent for assets without it", assets[0].ID, src, f))
		}
	}
	return out, nil
}

// delete handles DELETE /api/v1/asset-types/{type}/models/{kind}: 204, or
// 404 when there is no stored binding. Deleting the anomaly binding brings
// back the default one.
func (h *Bindings) delete(w http.ResponseWriter, r *http.Request) {
	assetType, kind, ok := pathBinding(w, r)
	if !ok {
		return
	}
	if err := h.Store.Delete(r.Context(), Tenant(r), assetType, kind); err != nil {
		WriteStoreError(w, r, err)
		return
	}
	h.changed(r.Context())
	w.WriteHeader(http.StatusNoContent)
}

// changed tells this process's detector; a failure only delays the change
// to the next periodic refresh.
func (h *Bindings) changed(ctx context.Context) {
	if h.Changed == nil {
		return
	}
	if err := h.Changed(ctx); err != nil {
		slog.WarnContext(ctx, "refresh model bindings after a change", "error", err)
	}
}
