package api

import (
	"bytes"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"mime"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gorilla/mux"

	"github.com/smartmaint/smartmaint/internal/auth"
	"github.com/smartmaint/smartmaint/internal/detect"
	"github.com/smartmaint/smartmaint/internal/ml/modelfile"
	"github.com/smartmaint/smartmaint/internal/mlops"
	"github.com/smartmaint/smartmaint/internal/registry"
)

// DefaultMaxUploadBytes limits an uploaded model file when
// Models.MaxUploadBytes is 0.
const DefaultMaxUploadBytes = 64 << 20

// uploadRoute is the upload's route as BodyLimits and the rate-limit
// classes name it.
const uploadRoute = "POST /api/v1/models/{name}/versions"

// maxFeatureName bounds one feature name of an uploaded model.
const maxFeatureName = 256

var sha256Hex = regexp.MustCompile(`^[0-9a-f]{64}$`)

// maxUpload is the upload limit in force.
func (h *Models) maxUpload() int64 {
	if h.MaxUploadBytes > 0 {
		return h.MaxUploadBytes
	}
	return DefaultMaxUploadBytes
}

// BodyLimits implements BodyLimiter: a model upload may be up to
// MaxUploadBytes (DefaultMaxUploadBytes when 0), whatever the router's
// limit for other bodies.
func (h *Models) BodyLimits() map[string]int64 {
	return map[string]int64{uploadRoute: h.maxUpload()}
}

// keyActor names the request's API key in the registry's records.
func keyActor(r *http.Request) string {
	p, _ := auth.FromContext(r.Context())
	return fmt.Sprintf("api key %s (%s)", p.KeyName, p.KeyPrefix)
}

// uploadView is the answer to an upload: the new version and, when the
// upload set an alias, the recorded move.
type uploadView struct {
	registry.Version
	AliasEvent *registry.AliasEvent `json:"alias_event,omitempty"`
}

// upload handles POST /api/v1/models/{name}/versions?alias&note: the body
// is a model file (modelfile format). It is checked against its
// Content-Digest when one is sent, parsed and validated, and only then
// stored as the next version of the model; with alias the version takes it
// at once. 201 with the version and its Location. A refused upload stores
// nothing.
func (h *Models) upload(w http.ResponseWriter, r *http.Request) {
	name := mux.Vars(r)["name"]
	q := r.URL.Query()
	alias, note := q.Get("alias"), strings.TrimSpace(q.Get("note"))
	var problems []ParamError
	for _, k := range slices.Sorted(maps.Keys(q)) {
		if k != "alias" && k != "note" {
			problems = append(problems, ParamError{k, "unknown parameter; the upload takes alias and note"})
		}
	}
	if !registry.ValidName(name) {
		problems = append(problems, ParamError{"name", "want 1 to 128 letters, digits and . _ : - starting with a letter or digit"})
	}
	if alias != "" && !registry.ValidAlias(alias) {
		problems = append(problems, ParamError{"alias", "must be one of " + strings.Join(registry.Aliases, ", ") + " (or left out)"})
	}
	if len(note) > registry.MaxNote {
		problems = append(problems, ParamError{"note", fmt.Sprintf("at most %d bytes", registry.MaxNote)})
	}
	if len(problems) > 0 {
		WriteError(w, r, http.StatusUnprocessableEntity, "invalid_upload", "the upload is invalid", problems)
		return
	}
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); strings.HasPrefix(mt, "multipart/") || mt == "application/x-www-form-urlencoded" {
		WriteError(w, r, http.StatusUnsupportedMediaType, "unsupported_media_type",
			"send the model file itself as the request body (Content-Type: application/octet-stream), with alias and note in the query", nil)
		return
	}
	body, err := io.ReadAll(r.Body)
	var maxErr *http.MaxBytesError
	switch {
	case errors.As(err, &maxErr):
		WriteError(w, r, http.StatusRequestEntityTooLarge, "body_too_large",
			fmt.Sprintf("the model file exceeds the upload limit of %d bytes", maxErr.Limit), map[string]int64{"limit_bytes": maxErr.Limit})
		return
	case err != nil:
		WriteError(w, r, http.StatusBadRequest, "malformed_body", "the request body could not be read: "+err.Error(), nil)
		return
	case len(body) == 0:
		WriteError(w, r, http.StatusBadRequest, "empty_body", "the request body is empty; send the model file as the body", nil)
		return
	}
	if !checkDigest(w, r, body) {
		return
	}
	m, err := modelfile.Unmarshal(body)
	if err != nil {
		writeModelFileError(w, r, err)
		return
	}
	spec, problems := uploadSpec(name, m)
	if len(problems) > 0 {
		WriteError(w, r, http.StatusUnprocessableEntity, "invalid_model", "the model file cannot be registered as "+strconv.Quote(name), problems)
		return
	}
	spec.CreatedBy, spec.Note = keyActor(r), note
	ctx, tenant := r.Context(), Tenant(r)
	v, err := h.Registry.Create(ctx, tenant, spec, body)
	if err != nil {
		writeRegistryError(w, r, err)
		return
	}
	view := uploadView{Version: v}
	if alias != "" {
		reason := note
		if reason == "" {
			reason = fmt.Sprintf("uploaded as version %d", v.Version)
		}
		ev, err := h.Registry.Promote(ctx, tenant, registry.Promotion{Name: name, Alias: alias, Version: v.Version, Actor: spec.CreatedBy, Reason: reason})
		if err != nil {
			// The version is stored; only the alias did not move.
			writeRegistryError(w, r, fmt.Errorf("version %d was stored but did not take the alias %s: %w", v.Version, alias, err))
			return
		}
		view.AliasEvent = &ev
	}
	w.Header().Set("Location", fmt.Sprintf("/api/v1/models/%s/versions/%d", url.PathEscape(name), v.Version))
	WriteJSON(w, http.StatusCreated, view)
}

// digests are the Content-Digest algorithms (RFC 9530) an upload may carry.
var digests = map[string]func([]byte) []byte{
	"sha-256": func(b []byte) []byte { s := sha256.Sum256(b); return s[:] },
	"sha-512": func(b []byte) []byte { s := sha512.Sum512(b); return s[:] },
}

// checkDigest verifies body against the request's Content-Digest header
// (RFC 9530: sha-256=:<base64>:, sha-512 too), when there is one. It
// answers 400 and reports false on a malformed header, one without a
// supported algorithm, or a mismatch.
func checkDigest(w http.ResponseWriter, r *http.Request, body []byte) bool {
	header := strings.Join(r.Header.Values("Content-Digest"), ",")
	if strings.TrimSpace(header) == "" {
		return true
	}
	checked := false
	for _, member := range strings.Split(header, ",") {
		member = strings.TrimSpace(member)
		alg, value, ok := strings.Cut(member, "=")
		if i := strings.IndexByte(value, ';'); i >= 0 { // parameters: none defined
			value = value[:i]
		}
		var want []byte
		var err error
		if ok && len(value) >= 2 && value[0] == ':' && value[len(value)-1] == ':' {
			want, err = base64.StdEncoding.DecodeString(value[1 : len(value)-1])
		}
		if !ok || want == nil || err != nil {
			WriteError(w, r, http.StatusBadRequest, "invalid_digest",
				fmt.Sprintf("Content-Digest member %q is malformed; want sha-256=:<base64 of the SHA-256 of the body>: (RFC 9530)", member), nil)
			return false
		}
		sum, known := digests[strings.ToLower(alg)]
		if !known {
			continue
		}
		if got := sum(body); !bytes.Equal(got, want) {
			WriteError(w, r, http.StatusBadRequest, "checksum_mismatch",
				fmt.Sprintf("the body's %s does not match its Content-Digest: it was damaged or is not the file meant; nothing was stored", strings.ToLower(alg)),
				map[string]string{"algorithm": strings.ToLower(alg), "expected": base64.StdEncoding.EncodeToString(want), "actual": base64.StdEncoding.EncodeToString(got)})
			return false
		}
		checked = true
	}
	if !checked {
		WriteError(w, r, http.StatusBadRequest, "unsupported_digest", "Content-Digest names no supported algorithm; send sha-256 or sha-512",
			map[string][]string{"supported": {"sha-256", "sha-512"}})
		return false
	}
	return true
}

// writeModelFileError answers a body modelfile cannot read: 422
// unknown_model_kind for a well-formed file of a kind this server does not
// know, 400 invalid_model_file for anything that is not a readable model
// file.
func writeModelFileError(w http.ResponseWriter, r *http.Request, err error) {
	msg := strings.TrimPrefix(err.Error(), "modelfile: ")
	switch {
	case errors.Is(err, modelfile.ErrUnknownKind):
		WriteError(w, r, http.StatusUnprocessableEntity, "unknown_model_kind", "the model file is of a kind this server cannot load: "+msg,
			map[string][]string{"known_kinds": modelfile.KnownKinds()})
	case errors.Is(err, modelfile.ErrNotModel):
		WriteError(w, r, http.StatusBadRequest, "invalid_model_file",
			fmt.Sprintf("the body is not a model file: it does not start with %q (write it with smartmaint train or modelfile.Write)", modelfile.Format+" "+strconv.Itoa(modelfile.Version)), nil)
	default:
		WriteError(w, r, http.StatusBadRequest, "invalid_model_file", "the model file cannot be read: "+msg, nil)
	}
}

// registryKind is the registry kind of a model file's kind: an Isolation
// Forest is "iforest" (mlops.Kind), the kind the detector's loader serves;
// other kinds keep their name.
func registryKind(fileKind string) string {
	if fileKind == modelfile.KindIsolationForest {
		return mlops.Kind
	}
	return fileKind
}

// uploadSpec describes the version an uploaded model file becomes, with
// the problems that keep it from being registered as name.
func uploadSpec(name string, m modelfile.Model) (registry.NewVersion, []ParamError) {
	meta := m.Meta
	var problems []ParamError
	if strings.HasPrefix(name, detect.ModelPrefix) && meta.Kind != modelfile.KindIsolationForest {
		problems = append(problems, ParamError{"name", fmt.Sprintf("models named %s<asset type> are the asset types' anomaly models and must be %s, not %s",
			detect.ModelPrefix, modelfile.KindIsolationForest, meta.Kind)})
	}
	if len(meta.FeatureNames) == 0 {
		problems = append(problems, ParamError{"feature_names", "the model has no features"})
	}
	seen := map[string]bool{}
	for i, f := range meta.FeatureNames {
		switch {
		case strings.TrimSpace(f) == "":
			problems = append(problems, ParamError{fmt.Sprintf("feature_names[%d]", i), "empty; every feature needs a name (a sensor id or asset.<key>)"})
		case f != strings.TrimSpace(f):
			problems = append(problems, ParamError{fmt.Sprintf("feature_names[%d]", i), fmt.Sprintf("%q has leading or trailing spaces", f)})
		case len(f) > maxFeatureName:
			problems = append(problems, ParamError{fmt.Sprintf("feature_names[%d]", i), fmt.Sprintf("at most %d bytes", maxFeatureName)})
		case seen[f]:
			problems = append(problems, ParamError{fmt.Sprintf("feature_names[%d]", i), fmt.Sprintf("%q appears twice", f)})
		}
		seen[f] = true
	}
	if meta.TrainingDataSHA256 != "" && !sha256Hex.MatchString(meta.TrainingDataSHA256) {
		problems = append(problems, ParamError{"training_data_sha256", "must be 64 lowercase hex digits or empty"})
	}
	var params map[string]any
	if len(meta.Params) > 0 && string(meta.Params) != "null" {
		if err := json.Unmarshal(meta.Params, &params); err != nil {
			params = map[string]any{"params": json.RawMessage(meta.Params)}
		}
	}
	data := meta.Dataset
	switch {
	case data == "" && meta.Rows > 0:
		data = fmt.Sprintf("uploaded model file, %d training rows", meta.Rows)
	case data == "":
		data = "uploaded model file; its training data is not described"
	case meta.Rows > 0:
		data = fmt.Sprintf("%s, %d rows", data, meta.Rows)
	}
	return registry.NewVersion{
		Name: name, Kind: registryKind(meta.Kind), Params: params, Metrics: meta.Metrics, Features: meta.FeatureNames,
		TrainingData: data, TrainingDataSHA256: meta.TrainingDataSHA256,
	}, problems
}

// version handles GET /api/v1/models/{name}/versions/{version}.
func (h *Models) version(w http.ResponseWriter, r *http.Request) {
	s := mux.Vars(r)["version"]
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 {
		WriteError(w, r, http.StatusNotFound, "not_found", fmt.Sprintf("no version %q: versions are numbered 1, 2, 3 …", s), nil)
		return
	}
	v, err := h.Registry.Version(r.Context(), Tenant(r), mux.Vars(r)["name"], n)
	if err != nil {
		writeRegistryError(w, r, err)
		return
	}
	WriteJSON(w, http.StatusOK, v)
}

// pathAlias returns the {alias} of the route, answering 404 and reporting
// false when it is not one of registry.Aliases.
func pathAlias(w http.ResponseWriter, r *http.Request) (string, bool) {
	alias := mux.Vars(r)["alias"]
	if !registry.ValidAlias(alias) {
		WriteError(w, r, http.StatusNotFound, "not_found", fmt.Sprintf("no alias %q; the aliases are %s", alias, strings.Join(registry.Aliases, ", ")), nil)
		return "", false
	}
	return alias, true
}

// aliasHistory handles GET /api/v1/models/{name}/aliases/{alias}/history:
// the alias's moves newest first, paged with limit and before (an event
// id; next_before of the previous page), or with at=<RFC 3339 time> the
// version that held the alias then (404 when none did).
func (h *Models) aliasHistory(w http.ResponseWriter, r *http.Request) {
	alias, ok := pathAlias(w, r)
	if !ok {
		return
	}
	ctx, tenant, name, q := r.Context(), Tenant(r), mux.Vars(r)["name"], r.URL.Query()
	if s := q.Get("at"); s != "" {
		t, err := time.Parse(time.RFC3339Nano, s)
		var problems []ParamError
		if err != nil {
			problems = append(problems, ParamError{"at", "must be an RFC 3339 time such as 2026-03-01T12:00:00Z"})
		}
		if q.Has("limit") || q.Has("before") {
			problems = append(problems, ParamError{"at", "answers one version; leave out limit and before"})
		}
		if len(problems) > 0 {
			WriteError(w, r, http.StatusBadRequest, "invalid_query", "invalid query parameters", problems)
			return
		}
		v, err := h.Registry.AliasAt(ctx, tenant, name, alias, t)
		if err != nil {
			writeRegistryError(w, r, err)
			return
		}
		WriteJSON(w, http.StatusOK, map[string]any{"model": name, "alias": alias, "at": t, "version": v})
		return
	}
	var problems []ParamError
	limit := queryInt(r, &problems, "limit", 1, 1000, 100)
	before := queryInt(r, &problems, "before", 1, 1<<62, 0)
	if len(problems) > 0 {
		WriteError(w, r, http.StatusBadRequest, "invalid_query", "invalid query parameters", problems)
		return
	}
	model, err := h.Registry.Model(ctx, tenant, name)
	if err != nil {
		writeRegistryError(w, r, err)
		return
	}
	events, err := h.Registry.AliasEvents(ctx, tenant, name, alias, limit, int64(before))
	if err != nil {
		writeRegistryError(w, r, err)
		return
	}
	var next int64
	if len(events) == limit {
		next = events[len(events)-1].ID
	}
	WriteJSON(w, http.StatusOK, map[string]any{"model": name, "alias": alias, "current_version": model.Aliases[alias], "items": events, "next_before": next})
}

// rollback handles POST /api/v1/models/{name}/aliases/{alias}/rollback:
// the alias goes back to the version it held before its latest move
// (rollbacks stack), recorded with reason "rollback". 200 with the move;
// 409 nothing_to_roll_back, alias_moved or not_eligible.
func (h *Models) rollback(w http.ResponseWriter, r *http.Request) {
	alias, ok := pathAlias(w, r)
	if !ok {
		return
	}
	ev, err := h.Registry.Rollback(r.Context(), Tenant(r), mux.Vars(r)["name"], alias, keyActor(r))
	switch {
	case errors.Is(err, registry.ErrNothingToRollBack):
		WriteError(w, r, http.StatusConflict, "nothing_to_roll_back", strings.TrimPrefix(err.Error(), "registry: "), nil)
	case errors.Is(err, registry.ErrAliasMoved):
		WriteError(w, r, http.StatusConflict, "alias_moved", strings.TrimPrefix(err.Error(), "registry: "), nil)
	case err != nil:
		writeRegistryError(w, r, err)
	default:
		WriteJSON(w, http.StatusOK, ev)
	}
}

// queryInt reads the optional integer query parameter name, from lo to hi
// (def when absent), adding a problem when it is not one.
func queryInt(r *http.Request, problems *[]ParamError, name string, lo, hi, def int) int {
	s := r.URL.Query().Get(name)
	if s == "" {
		return def
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < lo || n > hi {
		*problems = append(*problems, ParamError{name, fmt.Sprintf("must be an integer from %d to %d", lo, hi)})
	}
	return n
}
