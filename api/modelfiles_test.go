package api_test

import (
	"bytes"
	"context"
	"crypto/md5"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/smartmaint/smartmaint/api"
	"github.com/smartmaint/smartmaint/internal/ml/gbdt"
	"github.com/smartmaint/smartmaint/internal/ml/iforest"
	"github.com/smartmaint/smartmaint/internal/ml/modelfile"
	"github.com/smartmaint/smartmaint/internal/registry"
	"github.com/smartmaint/smartmaint/internal/registry/artifact"
	"github.com/smartmaint/smartmaint/internal/registry/registrytest"
	"github.com/smartmaint/smartmaint/internal/registry/s3test"
	"github.com/smartmaint/smartmaint/internal/store"
)

// trainingRows are 64 rows of two features.
func trainingRows() ([][]float64, []bool) {
	X := make([][]float64, 64)
	y := make([]bool, 64)
	for i := range X {
		X[i] = []float64{float64(i % 7), float64(i*i%11) / 3}
		y[i] = i%5 == 0
	}
	return X, y
}

// forestFile is a small Isolation Forest as a model file of the features
// torque and speed.
func forestFile(t testing.TB) []byte {
	t.Helper()
	X, _ := trainingRows()
	f, err := iforest.Train(X, iforest.Params{Trees: 5, Subsample: 32, Seed: 1, Contamination: 0.05})
	if err != nil {
		t.Fatal(err)
	}
	return marshal(t, modelfile.Model{Meta: modelfile.Metadata{
		FeatureNames: []string{"torque", "speed"}, Threshold: f.Threshold(), Dataset: "test rows", Rows: len(X),
		TrainingDataSHA256: modelfile.DataHash([]string{"torque", "speed"}, X, nil), Metrics: map[string]float64{"auc": 0.91},
	}, Scorer: f})
}

// gbdtFile is small gradient-boosted trees as a model file with the given
// feature names.
func gbdtFile(t testing.TB, names ...string) []byte {
	t.Helper()
	X, y := trainingRows()
	p := gbdt.DefaultParams()
	p.MaxIter, p.MaxLeafNodes, p.EarlyStopping = 3, 4, false
	g, err := gbdt.Train(X, y, p)
	if err != nil {
		t.Fatal(err)
	}
	return marshal(t, modelfile.Model{Meta: modelfile.Metadata{FeatureNames: names}, Scorer: g})
}

func marshal(t testing.TB, m modelfile.Model) []byte {
	t.Helper()
	b, err := modelfile.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// kindFile is a well-formed model file of any kind: header, metadata with
// the body's size and checksum, body.
func kindFile(kind string, body []byte) []byte {
	sum := sha256.Sum256(body)
	meta, _ := json.Marshal(modelfile.Metadata{Kind: kind, FeatureNames: []string{"torque"}, BodySize: len(body), BodySHA256: hex.EncodeToString(sum[:])})
	return append(append([]byte(fmt.Sprintf("%s %d\n", modelfile.Format, modelfile.Version)), append(meta, '\n')...), body...)
}

func contentDigest(b []byte) string {
	sum := sha256.Sum256(b)
	return "sha-256=:" + base64.StdEncoding.EncodeToString(sum[:]) + ":"
}

// upload POSTs body as a model file to path as key, with extra headers.
func (s *server) upload(t testing.TB, key, path string, body io.Reader, header http.Header) (int, map[string]any, http.Header) {
	t.Helper()
	h := http.Header{"Content-Type": {"application/octet-stream"}}
	for k, v := range header {
		h[k] = v
	}
	return s.doWith(t, key, "POST", path, body, h)
}

// newUploadServer is the models routes with uploads limited to maxUpload
// bytes, artifacts in a temporary folder.
func newUploadServer(t *testing.T, maxUpload int64) (*server, *registry.Registry, *artifact.Folder) {
	t.Helper()
	folder := registrytest.Folder(t)
	s, reg := newModelsServerOn(t, folder, func(_ *store.DB, reg *registry.Registry) *api.Models {
		return &api.Models{Registry: reg, MaxUploadBytes: maxUpload}
	})
	return s, reg, folder
}

// folderFiles counts the files under dir.
func folderFiles(t *testing.T, dir string) int {
	t.Helper()
	n := 0
	err := filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			n++
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestUploadModel(t *testing.T) {
	s, reg, folder := newUploadServer(t, 0)
	ctx := context.Background()
	file := forestFile(t)
	sum := sha256.Sum256(file)
	const path = "/api/v1/models/iforest-milling-machine/versions"
	code, body, hdr := s.upload(t, "ml-ops", path+"?alias=challenger&note="+url.QueryEscape("tuned on March data"), bytes.NewReader(file),
		http.Header{"Content-Digest": {contentDigest(file)}})
	if code != 201 {
		t.Fatalf("upload: %d %v", code, body)
	}
	ev, _ := body["alias_event"].(map[string]any)
	art, _ := body["artifact"].(map[string]any)
	if body["version"] != 1.0 || body["kind"] != "iforest" || body["tenant_id"] != "acme" || body["note"] != "tuned on March data" ||
		fmt.Sprint(body["features"]) != "[torque speed]" || body["metrics"].(map[string]any)["auc"] != 0.91 ||
		!strings.Contains(body["created_by"].(string), "ml-ops") || body["training_data"] != "test rows, 64 rows" ||
		art["sha256"] != hex.EncodeToString(sum[:]) || art["size"] != float64(len(file)) ||
		ev["alias"] != "challenger" || ev["to_version"] != 1.0 || ev["reason"] != "tuned on March data" {
		t.Fatalf("upload answered %v", body)
	}
	if loc := hdr.Get("Location"); loc != path+"/1" {
		t.Errorf("Location = %q", loc)
	}
	// The version is where Location says, the alias holds it, the stored
	// bytes are the upload.
	if code, got, _ := s.do(t, "reader", "GET", path+"/1", "", ""); code != 200 || got["version"] != 1.0 || got["note"] != "tuned on March data" {
		t.Errorf("GET the Location: %d %v", code, got)
	}
	v, err := reg.Resolve(ctx, "acme", "iforest-milling-machine", registry.Challenger)
	if err != nil || v.Version != 1 {
		t.Fatalf("challenger = %+v, %v", v, err)
	}
	data, err := reg.Load(ctx, v)
	if err != nil || !bytes.Equal(data, file) {
		t.Fatalf("stored artifact differs from the upload (%v)", err)
	}
	if n := folderFiles(t, folder.Dir()); n != 1 {
		t.Errorf("%d files in the artifact folder, want 1", n)
	}

	// Without digest, alias or note; another kind keeps its name.
	code, body, _ = s.upload(t, "ml-ops", "/api/v1/models/pump-gbdt/versions", bytes.NewReader(gbdtFile(t, "torque", "speed")), nil)
	if code != 201 || body["kind"] != "gbdt" || body["alias_event"] != nil || body["note"] != nil || body["version"] != 1.0 {
		t.Fatalf("gbdt upload: %d %v", code, body)
	}
	// The next upload is version 2, and sha-512 digests are checked too.
	code, body, _ = s.upload(t, "ml-ops", path, bytes.NewReader(file), http.Header{"Content-Digest": {sha512Digest(file)}})
	if code != 201 || body["version"] != 2.0 {
		t.Fatalf("second upload: %d %v", code, body)
	}
	// Another tenant sees none of it.
	if code, got, _ := s.do(t, "rival", "GET", path+"/1", "", ""); code != 404 || errCode(got) != "not_found" {
		t.Errorf("another tenant GETs the version: %d %v", code, got)
	}
	if code, got, _ := s.do(t, "reader", "GET", path+"/9", "", ""); code != 404 || errCode(got) != "not_found" {
		t.Errorf("GET an unknown version: %d %v", code, got)
	}
}

// TestUploadLimitIsTheRoutes: the upload's limit replaces the router's
// limit on other bodies, which still holds elsewhere.
func TestUploadLimitIsTheRoutes(t *testing.T) {
	folder := registrytest.Folder(t)
	s, _ := newModelsServerOn(t, folder, func(_ *store.DB, reg *registry.Registry) *api.Models { return &api.Models{Registry: reg} }, api.WithMaxBodyBytes(256))
	file := forestFile(t)
	if len(file) <= 256 {
		t.Fatalf("the model file has only %d bytes", len(file))
	}
	if code, body, _ := s.upload(t, "ml-ops", "/api/v1/models/pump/versions", bytes.NewReader(file), nil); code != 201 {
		t.Fatalf("upload of %d bytes past a 256-byte router limit: %d %v", len(file), code, body)
	}
	reason := strings.Repeat("r", 300)
	if code, body, _ := s.do(t, "ml-ops", "POST", "/api/v1/models/pump/promote", "application/json", `{"version":1,"reason":"`+reason+`"}`); code != 413 || errCode(body) != "body_too_large" {
		t.Errorf("a 300-byte promotion under a 256-byte limit: %d %v", code, body)
	}
}

func sha512Digest(b []byte) string {
	sum := sha512.Sum512(b)
	return "sha-512=:" + base64.StdEncoding.EncodeToString(sum[:]) + ":"
}

// TestUploadRefused: every refused upload answers a 4xx JSON error and
// stores nothing, neither a version nor an artifact.
func TestUploadRefused(t *testing.T) {
	s, reg, folder := newUploadServer(t, 16<<10)
	file := forestFile(t)
	other := gbdtFile(t, "torque", "speed")
	big := kindFile(modelfile.KindGBDT, bytes.Repeat([]byte{1}, 17<<10))
	truncated := file[:len(file)-10]
	md5sum := md5.Sum(file)
	const path = "/api/v1/models/iforest-mill/versions"
	for _, tt := range []struct {
		name, key, path string
		body            []byte
		header          http.Header
		chunked         bool
		code            int
		errCode         string
		message         string
	}{
		{name: "too large", key: "ml-ops", path: path, body: big, code: 413, errCode: "body_too_large"},
		{name: "too large, streamed", key: "ml-ops", path: path, body: big, chunked: true, code: 413, errCode: "body_too_large", message: "16384 bytes"},
		{name: "checksum mismatch", key: "ml-ops", path: path, body: file, header: http.Header{"Content-Digest": {contentDigest(other)}}, code: 400, errCode: "checksum_mismatch"},
		{name: "one of two digests wrong", key: "ml-ops", path: path, body: file,
			header: http.Header{"Content-Digest": {contentDigest(file) + ", " + sha512Digest(other)}}, code: 400, errCode: "checksum_mismatch"},
		{name: "malformed digest", key: "ml-ops", path: path, body: file, header: http.Header{"Content-Digest": {"sha-256=" + hex.EncodeToString(md5sum[:])}}, code: 400, errCode: "invalid_digest"},
		{name: "unsupported digest", key: "ml-ops", path: path, body: file,
			header: http.Header{"Content-Digest": {"md5=:" + base64.StdEncoding.EncodeToString(md5sum[:]) + ":"}}, code: 400, errCode: "unsupported_digest"},
		{name: "not a model file", key: "ml-ops", path: path, body: []byte("torque,speed\n1,2\n"), code: 400, errCode: "invalid_model_file", message: "not a model file"},
		{name: "truncated", key: "ml-ops", path: path, body: truncated, code: 400, errCode: "invalid_model_file", message: "body"},
		{name: "newer format", key: "ml-ops", path: path, body: append([]byte(modelfile.Format+" 9\n"), file[len(modelfile.Format)+3:]...), code: 400, errCode: "invalid_model_file", message: "version 9"},
		{name: "empty", key: "ml-ops", path: path, body: nil, code: 400, errCode: "empty_body"},
		{name: "unknown kind", key: "ml-ops", path: "/api/v1/models/quantum/versions", body: kindFile("quantum", []byte("qubits")), code: 422, errCode: "unknown_model_kind", message: `"quantum"`},
		{name: "empty feature name", key: "ml-ops", path: "/api/v1/models/pump-gbdt/versions", body: gbdtFile(t, "torque", " "), code: 422, errCode: "invalid_model"},
		{name: "duplicate feature", key: "ml-ops", path: "/api/v1/models/pump-gbdt/versions", body: gbdtFile(t, "torque", "torque"), code: 422, errCode: "invalid_model"},
		{name: "anomaly model of another kind", key: "ml-ops", path: path, body: other, code: 422, errCode: "invalid_model", message: "iforest-"},
		{name: "bad name", key: "ml-ops", path: "/api/v1/models/-pump/versions", body: file, code: 422, errCode: "invalid_upload"},
		{name: "bad alias", key: "ml-ops", path: path + "?alias=production", body: file, code: 422, errCode: "invalid_upload"},
		{name: "unknown parameter", key: "ml-ops", path: path + "?aliases=champion", body: file, code: 422, errCode: "invalid_upload"},
		{name: "note too long", key: "ml-ops", path: path + "?note=" + strings.Repeat("n", 2001), body: file, code: 422, errCode: "invalid_upload"},
		{name: "multipart", key: "ml-ops", path: path, body: file, header: http.Header{"Content-Type": {"multipart/form-data; boundary=x"}}, code: 415, errCode: "unsupported_media_type"},
		{name: "read-only key", key: "reader", path: path, body: file, code: 403, errCode: "forbidden"},
		{name: "no key", key: "", path: path, body: file, code: 401, errCode: "unauthenticated"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var body io.Reader = bytes.NewReader(tt.body)
			if tt.chunked {
				body = io.MultiReader(body) // no length: sent chunked
			}
			code, got, _ := s.upload(t, tt.key, tt.path, body, tt.header)
			msg, _ := got["error"].(map[string]any)["message"].(string)
			if code != tt.code || errCode(got) != tt.errCode || !strings.Contains(msg, tt.message) {
				t.Errorf("%d %v, want %d %s with %q in the message", code, got, tt.code, tt.errCode, tt.message)
			}
		})
	}
	if models, err := reg.Models(context.Background(), "acme"); err != nil || len(models) != 0 {
		t.Errorf("refused uploads left models %v (%v)", models, err)
	}
	if n := folderFiles(t, folder.Dir()); n != 0 {
		t.Errorf("refused uploads left %d files in the artifact store", n)
	}
	// The details say what is wrong.
	_, got, _ := s.upload(t, "ml-ops", "/api/v1/models/quantum/versions", bytes.NewReader(kindFile("quantum", []byte("q"))), nil)
	if kinds := fmt.Sprint(got["error"].(map[string]any)["details"]); !strings.Contains(kinds, "gbdt") || !strings.Contains(kinds, "isolation_forest") {
		t.Errorf("unknown kind details = %v", kinds)
	}
	_, got, _ = s.upload(t, "ml-ops", path, bytes.NewReader(file), http.Header{"Content-Digest": {contentDigest(other)}})
	if d, _ := got["error"].(map[string]any)["details"].(map[string]any); d["algorithm"] != "sha-256" || d["actual"] == d["expected"] {
		t.Errorf("checksum mismatch details = %v", d)
	}
	// Under the limit the same server takes the file.
	if code, got, _ := s.upload(t, "ml-ops", path, bytes.NewReader(file), nil); code != 201 {
		t.Errorf("a valid upload after the refusals: %d %v", code, got)
	}
}

// TestUploadToS3: an upload lands in S3 (a real S3-compatible server), a
// refused one leaves the bucket as it was.
func TestUploadToS3(t *testing.T) {
	srv := s3test.Start(t)
	ctx := context.Background()
	store3, err := artifact.NewS3(ctx, srv.Config("models"))
	if err != nil {
		t.Fatal(err)
	}
	s, reg := newModelsServerOn(t, store3, func(_ *store.DB, reg *registry.Registry) *api.Models { return &api.Models{Registry: reg} })
	objects := func() int {
		t.Helper()
		out, err := srv.Client().ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String(srv.Bucket)})
		if err != nil {
			t.Fatal(err)
		}
		return len(out.Contents)
	}
	file := forestFile(t)
	const path = "/api/v1/models/iforest-mill/versions"
	for _, tt := range []struct {
		body   []byte
		digest string
	}{
		{file, contentDigest(file[1:])},
		{file[:len(file)-1], ""},
		{gbdtFile(t, "torque", "speed"), ""},
	} {
		h := http.Header{}
		if tt.digest != "" {
			h.Set("Content-Digest", tt.digest)
		}
		if code, got, _ := s.upload(t, "ml-ops", path, bytes.NewReader(tt.body), h); code < 400 || code >= 500 {
			t.Fatalf("a bad upload answered %d %v", code, got)
		}
	}
	if n := objects(); n != 0 {
		t.Fatalf("refused uploads left %d objects in the bucket", n)
	}
	code, got, _ := s.upload(t, "ml-ops", path+"?alias=champion", bytes.NewReader(file), http.Header{"Content-Digest": {contentDigest(file)}})
	if code != 201 || !strings.HasPrefix(got["artifact"].(map[string]any)["uri"].(string), "s3://") {
		t.Fatalf("upload to S3: %d %v", code, got)
	}
	if n := objects(); n != 1 {
		t.Errorf("%d objects after one upload", n)
	}
	v, err := reg.Resolve(ctx, "acme", "iforest-mill", registry.Champion)
	if err != nil {
		t.Fatal(err)
	}
	if data, err := reg.Load(ctx, v); err != nil || !bytes.Equal(data, file) {
		t.Fatalf("load from S3: %v", err)
	}
}

// historyServer has "pump-iforest" v1–v3 with champion moved to v1 then v2
// (and challenger to v3); before, between and after are times before the
// first champion move, between the two and after the second.
func historyServer(t *testing.T) (s *server, reg *registry.Registry, folder *artifact.Folder, before, between, after time.Time) {
	t.Helper()
	s, reg, folder = newUploadServer(t, 0)
	ctx := context.Background()
	for i := range 3 {
		if _, err := reg.Create(ctx, "acme", registry.NewVersion{Name: "pump-iforest", Kind: "iforest", CreatedBy: "test"}, []byte(fmt.Sprint("forest ", i))); err != nil {
			t.Fatal(err)
		}
	}
	promote := func(alias string, v int) {
		t.Helper()
		time.Sleep(20 * time.Millisecond)
		if _, err := reg.Promote(ctx, "acme", registry.Promotion{Name: "pump-iforest", Alias: alias, Version: v, Actor: "test", Reason: fmt.Sprint("to v", v)}); err != nil {
			t.Fatal(err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	before = time.Now()
	promote(registry.Champion, 1)
	between = time.Now()
	promote(registry.Champion, 2)
	promote(registry.Challenger, 3)
	after = time.Now()
	return s, reg, folder, before, between, after
}

func TestAliasHistory(t *testing.T) {
	s, _, _, before, between, after := historyServer(t)
	const path = "/api/v1/models/pump-iforest/aliases/champion/history"
	code, body, _ := s.do(t, "reader", "GET", path, "", "")
	items, _ := body["items"].([]any)
	if code != 200 || len(items) != 2 || body["current_version"] != 2.0 || body["next_before"] != 0.0 || body["alias"] != "champion" {
		t.Fatalf("history: %d %v", code, body)
	}
	newest := items[0].(map[string]any)
	if newest["from_version"] != 1.0 || newest["to_version"] != 2.0 || newest["actor"] != "test" || newest["reason"] != "to v2" || newest["at"] == nil {
		t.Errorf("newest move = %v", newest)
	}
	if items[1].(map[string]any)["from_version"] != nil || items[1].(map[string]any)["to_version"] != 1.0 {
		t.Errorf("first move = %v", items[1])
	}
	// Paged: one move per page.
	code, body, _ = s.do(t, "reader", "GET", path+"?limit=1", "", "")
	next := body["next_before"]
	if code != 200 || len(body["items"].([]any)) != 1 || next != newest["id"] {
		t.Fatalf("first page: %d %v", code, body)
	}
	code, body, _ = s.do(t, "reader", "GET", fmt.Sprintf("%s?limit=1&before=%.0f", path, next), "", "")
	if code != 200 || len(body["items"].([]any)) != 1 || body["items"].([]any)[0].(map[string]any)["to_version"] != 1.0 {
		t.Fatalf("second page: %d %v", code, body)
	}
	if code, body, _ = s.do(t, "reader", "GET", fmt.Sprintf("%s?limit=1&before=%.0f", path, body["next_before"]), "", ""); code != 200 || len(body["items"].([]any)) != 0 || body["next_before"] != 0.0 {
		t.Fatalf("last page: %d %v", code, body)
	}
	if code, body, _ = s.do(t, "reader", "GET", "/api/v1/models/pump-iforest/aliases/challenger/history", "", ""); code != 200 || len(body["items"].([]any)) != 1 {
		t.Errorf("challenger history: %d %v", code, body)
	}

	// ?at: which version was live then.
	at := func(tm time.Time) string { return path + "?at=" + url.QueryEscape(tm.Format(time.RFC3339Nano)) }
	if code, body, _ = s.do(t, "reader", "GET", at(before), "", ""); code != 404 || errCode(body) != "not_found" {
		t.Errorf("at before the first promotion: %d %v", code, body)
	}
	for tm, want := range map[time.Time]float64{between: 1, after: 2} {
		code, body, _ = s.do(t, "reader", "GET", at(tm), "", "")
		if v, _ := body["version"].(map[string]any); code != 200 || v["version"] != want {
			t.Errorf("at %s: %d %v, want version %v", tm, code, body, want)
		}
	}

	for _, tt := range []struct {
		key, path string
		code      int
		errCode   string
	}{
		{"reader", "/api/v1/models/pump-iforest/aliases/production/history", 404, "not_found"},
		{"reader", "/api/v1/models/nope/aliases/champion/history", 404, "not_found"},
		{"rival", path, 404, "not_found"},
		{"rival", at(after), 404, "not_found"},
		{"reader", path + "?limit=0", 400, "invalid_query"},
		{"reader", path + "?before=x", 400, "invalid_query"},
		{"reader", path + "?at=yesterday", 400, "invalid_query"},
		{"reader", at(after) + "&limit=5", 400, "invalid_query"},
		{"", path, 401, "unauthenticated"},
	} {
		if code, body, _ := s.do(t, tt.key, "GET", tt.path, "", ""); code != tt.code || errCode(body) != tt.errCode {
			t.Errorf("GET %s as %q: %d %v, want %d %s", tt.path, tt.key, code, body, tt.code, tt.errCode)
		}
	}
}

func TestRollbackRoute(t *testing.T) {
	s, reg, folder, _, _, _ := historyServer(t)
	ctx := context.Background()
	if _, err := reg.Promote(ctx, "acme", registry.Promotion{Name: "pump-iforest", Alias: registry.Champion, Version: 3, Actor: "test", Reason: "to v3"}); err != nil {
		t.Fatal(err)
	}
	const path = "/api/v1/models/pump-iforest/aliases/champion/rollback"
	for _, want := range []float64{2, 1} {
		code, body, _ := s.do(t, "ml-ops", "POST", path, "", "")
		if code != 200 || body["to_version"] != want || body["reason"] != "rollback" || !strings.Contains(body["actor"].(string), "ml-ops") {
			t.Fatalf("rollback: %d %v, want to version %v", code, body, want)
		}
	}
	if code, body, _ := s.do(t, "ml-ops", "POST", path, "", ""); code != 409 || errCode(body) != "nothing_to_roll_back" {
		t.Errorf("rollback past the first assignment: %d %v", code, body)
	}
	code, body, _ := s.do(t, "reader", "GET", "/api/v1/models/pump-iforest/aliases/champion/history?limit=2", "", "")
	if items, _ := body["items"].([]any); code != 200 || len(items) != 2 || items[0].(map[string]any)["reason"] != "rollback" || body["current_version"] != 1.0 {
		t.Errorf("history after rollbacks: %d %v", code, body)
	}

	// A version whose artifact is damaged is not rolled back to: the
	// challenger went 3 → 2, and v3 is damaged.
	v3, _ := reg.Version(ctx, "acme", "pump-iforest", 3)
	if _, err := reg.Promote(ctx, "acme", registry.Promotion{Name: "pump-iforest", Alias: registry.Challenger, Version: 2, Actor: "test", Reason: "to v2"}); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(folder.Dir(), v3.Artifact.Key), []byte("forest X"), 0o644); err != nil {
		t.Fatal(err)
	}
	if code, body, _ := s.do(t, "ml-ops", "POST", "/api/v1/models/pump-iforest/aliases/challenger/rollback", "", ""); code != 409 || errCode(body) != "not_eligible" {
		t.Errorf("rollback to a damaged version: %d %v", code, body)
	}
	for _, tt := range []struct {
		key, path string
		code      int
		errCode   string
	}{
		{"reader", path, 403, "forbidden"},
		{"", path, 401, "unauthenticated"},
		{"ml-ops", "/api/v1/models/pump-iforest/aliases/production/rollback", 404, "not_found"},
		{"ml-ops", "/api/v1/models/nope/aliases/champion/rollback", 404, "not_found"},
		{"rival", path, 404, "not_found"},
	} {
		if code, body, _ := s.do(t, tt.key, "POST", tt.path, "", ""); code != tt.code || errCode(body) != tt.errCode {
			t.Errorf("POST %s as %q: %d %v, want %d %s", tt.path, tt.key, code, body, tt.code, tt.errCode)
		}
	}
}

// BenchmarkUploadModel measures the upload path end to end: a 100-tree
// Isolation Forest file through the router, authentication, Content-Digest
// check, parsing and validation, the artifact write (folder) and the
// version insert in PostgreSQL. Each iteration registers a new version.
func BenchmarkUploadModel(b *testing.B) {
	folder, err := artifact.NewFolder(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	s, _ := newModelsServerOn(b, folder, func(_ *store.DB, reg *registry.Registry) *api.Models { return &api.Models{Registry: reg} })
	X := make([][]float64, 4000)
	for i := range X {
		X[i] = []float64{float64(i % 97), float64(i*i%101) / 3, float64(i % 13), float64(i % 7), float64(i % 5)}
	}
	f, err := iforest.Train(X, iforest.Params{Trees: 100, Subsample: 256, Seed: 1})
	if err != nil {
		b.Fatal(err)
	}
	file := marshal(b, modelfile.Model{Meta: modelfile.Metadata{FeatureNames: []string{"air_temp", "process_temp", "speed", "torque", "tool_wear"}}, Scorer: f})
	header := http.Header{"Content-Digest": {contentDigest(file)}}
	b.SetBytes(int64(len(file)))
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if code, body, _ := s.upload(b, "ml-ops", "/api/v1/models/iforest-mill/versions", bytes.NewReader(file), header); code != 201 {
			b.Fatalf("upload: %d %v", code, body)
		}
	}
}
