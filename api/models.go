package api

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/gorilla/mux"

	"github.com/smartmaint/smartmaint/internal/apikey"
	"github.com/smartmaint/smartmaint/internal/auth"
	"github.com/smartmaint/smartmaint/internal/registry"
	"github.com/smartmaint/smartmaint/internal/registry/artifact"
	"github.com/smartmaint/smartmaint/internal/store"
)

// Models serves the model registry: the tenant's models with their aliases,
// each model's versions and alias history, and promotion.
type Models struct {
	Registry *registry.Registry
}

// Register mounts the registry routes. Reading needs readings:read;
// promoting needs models:write.
func (h *Models) Register(v1 *mux.Router) {
	v1.Handle("/models", Require(apikey.ReadingsRead, h.list)).Methods(http.MethodGet)
	v1.Handle("/models/{name}/versions", Require(apikey.ReadingsRead, h.versions)).Methods(http.MethodGet)
	v1.Handle("/models/{name}/promote", Require(apikey.ModelsWrite, h.promote)).Methods(http.MethodPost)
}

// list handles GET /api/v1/models.
func (h *Models) list(w http.ResponseWriter, r *http.Request) {
	models, err := h.Registry.Models(r.Context(), Tenant(r))
	if err != nil {
		WriteInternal(w, r, err)
		return
	}
	WriteJSON(w, http.StatusOK, map[string]any{"items": models})
}

// versions handles GET /api/v1/models/{name}/versions?limit&before: the
// model, its versions newest first and its alias history (the latest 100
// moves), with next_before for the following page when there is one.
func (h *Models) versions(w http.ResponseWriter, r *http.Request) {
	var problems []ParamError
	intParam := func(name string, lo, hi, def int) int {
		s := r.URL.Query().Get(name)
		if s == "" {
			return def
		}
		n, err := strconv.Atoi(s)
		if err != nil || n < lo || n > hi {
			problems = append(problems, ParamError{name, fmt.Sprintf("must be an integer from %d to %d", lo, hi)})
		}
		return n
	}
	limit := intParam("limit", 1, 1000, 100)
	before := intParam("before", 1, 1<<31-1, 0)
	if len(problems) > 0 {
		WriteError(w, r, http.StatusBadRequest, "invalid_query", "invalid query parameters", problems)
		return
	}
	ctx, tenant, name := r.Context(), Tenant(r), mux.Vars(r)["name"]
	model, err := h.Registry.Model(ctx, tenant, name)
	if err != nil {
		writeRegistryError(w, r, err)
		return
	}
	versions, err := h.Registry.Versions(ctx, tenant, name, limit, before)
	if err != nil {
		writeRegistryError(w, r, err)
		return
	}
	history, err := h.Registry.AliasHistory(ctx, tenant, name, 100)
	if err != nil {
		writeRegistryError(w, r, err)
		return
	}
	next := 0
	if len(versions) == limit && versions[len(versions)-1].Version > 1 {
		next = versions[len(versions)-1].Version
	}
	WriteJSON(w, http.StatusOK, map[string]any{"model": model, "items": versions, "next_before": next, "alias_history": history})
}

// promoteBody is the body of POST /api/v1/models/{name}/promote.
type promoteBody struct {
	Version int    `json:"version"`
	Alias   string `json:"alias"`
	Reason  string `json:"reason"`
}

func (b promoteBody) problems() []ParamError {
	var p []ParamError
	if b.Version < 1 {
		p = append(p, ParamError{"version", "required: the version number to promote, from 1"})
	}
	if !registry.ValidAlias(b.Alias) {
		p = append(p, ParamError{"alias", "must be one of " + strings.Join(registry.Aliases, ", ") + " (champion when omitted)"})
	}
	if strings.TrimSpace(b.Reason) == "" {
		p = append(p, ParamError{"reason", "required: why the alias moves; it is kept in the model's alias history"})
	} else if len(b.Reason) > 2000 {
		p = append(p, ParamError{"reason", "at most 2000 bytes"})
	}
	return p
}

// promote handles POST /api/v1/models/{name}/promote: it moves the alias
// to the version, recording the API key as the actor, and answers the
// recorded move. Workers and API replicas swap the model in within seconds.
func (h *Models) promote(w http.ResponseWriter, r *http.Request) {
	var b promoteBody
	if !DecodeJSON(w, r, &b) {
		return
	}
	if b.Alias == "" {
		b.Alias = registry.Champion
	}
	if p := b.problems(); len(p) > 0 {
		WriteError(w, r, http.StatusUnprocessableEntity, "invalid_promotion", "the promotion is invalid", p)
		return
	}
	p, _ := auth.FromContext(r.Context())
	ev, err := h.Registry.Promote(r.Context(), p.TenantID, registry.Promotion{
		Name:    mux.Vars(r)["name"],
		Alias:   b.Alias,
		Version: b.Version,
		Actor:   fmt.Sprintf("api key %s (%s)", p.KeyName, p.KeyPrefix),
		Reason:  strings.TrimSpace(b.Reason),
	})
	if err != nil {
		writeRegistryError(w, r, err)
		return
	}
	WriteJSON(w, http.StatusOK, ev)
}

// writeRegistryError answers a registry error: unknown model or version
// 404, alias already there 409 alias_unchanged, broken artifact 409
// not_eligible, invalid input 422, anything else 500.
func writeRegistryError(w http.ResponseWriter, r *http.Request, err error) {
	msg := strings.TrimPrefix(err.Error(), "registry: ")
	switch {
	case errors.Is(err, store.ErrNotFound):
		WriteError(w, r, http.StatusNotFound, "not_found", msg, nil)
	case errors.Is(err, registry.ErrAliasUnchanged):
		WriteError(w, r, http.StatusConflict, "alias_unchanged", msg, nil)
	case errors.Is(err, registry.ErrNotEligible):
		// The underlying error names storage paths; the client gets the gist.
		msg = "the version's artifact cannot be loaded, so it cannot take an alias"
		switch {
		case errors.Is(err, artifact.ErrChecksum):
			msg = "the version's artifact no longer matches its recorded SHA-256, so it cannot take an alias"
		case errors.Is(err, artifact.ErrNotFound):
			msg = "the version's artifact is missing from the artifact store, so it cannot take an alias"
		}
		WriteError(w, r, http.StatusConflict, "not_eligible", msg, nil)
	case errors.Is(err, store.ErrInvalid):
		WriteError(w, r, http.StatusUnprocessableEntity, "invalid", msg, nil)
	default:
		WriteInternal(w, r, err)
	}
}
