package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/smartmaint/smartmaint/api"
	"github.com/smartmaint/smartmaint/internal/apikey"
	"github.com/smartmaint/smartmaint/internal/auth"
	"github.com/smartmaint/smartmaint/internal/ml/iforest"
	"github.com/smartmaint/smartmaint/internal/ml/modelfile"
	"github.com/smartmaint/smartmaint/internal/registry"
	"github.com/smartmaint/smartmaint/internal/registry/registrytest"
	"github.com/smartmaint/smartmaint/internal/testenv"
)

// modelsServer is the real router with the registry routes over a
// throwaway database and artifact folder, and a models:write key of
// tenant acme.
func modelsServer(t *testing.T) (modelsDefaults, *registry.Registry) {
	t.Helper()
	db, _ := testenv.DB(t)
	log := slog.New(slog.DiscardHandler)
	reg, _ := registrytest.New(t, db)
	srv := httptest.NewServer(api.NewRouter(log, auth.NewAuthenticator(db, log), &api.Health{}, []api.Routes{&api.Models{Registry: reg}}, nil))
	t.Cleanup(srv.Close)
	testenv.Tenant(t, db, "acme")
	key, prefix, hash := apikey.Generate()
	if _, err := db.CreateAPIKey(context.Background(), "acme", "cli", prefix, hash, []apikey.Scope{apikey.ModelsWrite, apikey.ReadingsRead}, nil); err != nil {
		t.Fatal(err)
	}
	return modelsDefaults{URL: srv.URL, Key: key}, reg
}

// forestFiles writes n small Isolation Forests (seeds 1…n) to files.
func forestFiles(t *testing.T, n int) []string {
	t.Helper()
	X := make([][]float64, 64)
	for i := range X {
		X[i] = []float64{float64(i % 7), float64(i * i % 11)}
	}
	var paths []string
	for i := range n {
		f, err := iforest.Train(X, iforest.Params{Trees: 3, Subsample: 16, Seed: uint64(i + 1)})
		if err != nil {
			t.Fatal(err)
		}
		b, err := modelfile.Marshal(modelfile.Model{Meta: modelfile.Metadata{FeatureNames: []string{"torque", "speed"}}, Scorer: f})
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(t.TempDir(), "forest.smm")
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		paths = append(paths, p)
	}
	return paths
}

// modelsRunner runs smartmaint models against d, answering what it
// printed on stdout.
func modelsRunner(t *testing.T, d modelsDefaults) func(args ...string) (string, error) {
	return func(args ...string) (string, error) {
		t.Helper()
		var out, info bytes.Buffer
		err := modelsCommand(context.Background(), d, args, &out, &info)
		return out.String(), err
	}
}

func TestModelsCommand(t *testing.T) {
	d, reg := modelsServer(t)
	ctx := context.Background()
	run := modelsRunner(t, d)
	files := forestFiles(t, 3)

	// import: flags after the file, the alias set at once.
	out, err := run("import", files[0], "--name", "iforest-mill", "--alias", "champion", "--note", "first cut")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "imported iforest-mill version 1: kind iforest, 2 features") || !strings.Contains(out, "champion of iforest-mill: - → v1") {
		t.Errorf("import printed %q", out)
	}
	for _, f := range files[1:] {
		if _, err := run("import", "--name", "iforest-mill", f); err != nil {
			t.Fatal(err)
		}
	}

	// promote, then rollback goes back.
	if out, err = run("promote", "iforest-mill", "3"); err != nil || out != "champion of iforest-mill: v1 → v3\n" {
		t.Fatalf("promote: %q, %v", out, err)
	}
	if out, err = run("promote", "iforest-mill", "v2", "--alias", "challenger", "--reason", "trial"); err != nil || out != "challenger of iforest-mill: - → v2\n" {
		t.Fatalf("promote challenger: %q, %v", out, err)
	}
	if out, err = run("rollback", "iforest-mill"); err != nil || out != "champion of iforest-mill rolled back: v3 → v1\n" {
		t.Fatalf("rollback: %q, %v", out, err)
	}
	if v, err := reg.Resolve(ctx, "acme", "iforest-mill", registry.Champion); err != nil || v.Version != 1 {
		t.Fatalf("champion after rollback: v%d, %v", v.Version, err)
	}
	h, err := reg.AliasEvents(ctx, "acme", "iforest-mill", registry.Champion, 1, 0)
	if err != nil || h[0].Reason != registry.RollbackReason || !strings.Contains(h[0].Actor, "cli") {
		t.Errorf("latest champion move = %+v, %v", h, err)
	}

	// list: the models, then one model's versions.
	out, err = run("list")
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`^NAME\s+LATEST\s+CHAMPION\s+CHALLENGER\s+UPDATED\niforest-mill\s+3\s+v1\s+v2\s+\d{4}-\d\d-\d\dT`).MatchString(out) {
		t.Errorf("list printed\n%s", out)
	}
	out, err = run("list", "iforest-mill")
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("models list iforest-mill:\n%s", out)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 4 || !strings.HasPrefix(lines[0], "VERSION") ||
		!regexp.MustCompile(`^3\s+iforest\s+2\s+-\s`).MatchString(lines[1]) ||
		!regexp.MustCompile(`^2\s+iforest\s+2\s+challenger\s`).MatchString(lines[2]) ||
		!regexp.MustCompile(`^1\s+iforest\s+2\s+champion\s.*api key cli .*first cut$`).MatchString(lines[3]) {
		t.Errorf("list iforest-mill printed\n%s", out)
	}

	// Refusals say what the API said.
	bad := filepath.Join(t.TempDir(), "bad.smm")
	os.WriteFile(bad, []byte("not a model"), 0o644)
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"import", bad, "--name", "iforest-mill"}, "400 invalid_model_file"},
		{[]string{"import", files[0]}, "--name is required"},
		{[]string{"import", "--name", "x"}, "want one model file"},
		{[]string{"import", filepath.Join(t.TempDir(), "missing"), "--name", "x"}, "no such file"},
		{[]string{"promote", "iforest-mill", "1"}, "409 alias_unchanged"},
		{[]string{"promote", "iforest-mill", "three"}, "not a version number"},
		{[]string{"promote", "nope", "1"}, "404 not_found"},
		{[]string{"rollback", "iforest-mill", "--alias", "challenger"}, "409 nothing_to_roll_back"},
		{[]string{"list", "nope"}, "404 not_found"},
		{[]string{"list", "a", "b"}, "at most one"},
		{[]string{"frobnicate"}, "unknown models subcommand"},
		{nil, "usage:"},
		{[]string{"list", "--api-key", "sm_nope"}, "401 unauthenticated"},
	} {
		if _, err := run(tt.args...); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("models %q: %v, want an error with %q", tt.args, err, tt.want)
		}
	}
	if models, _ := reg.Models(ctx, "acme"); len(models) != 1 || models[0].LatestVersion != 3 {
		t.Errorf("refused commands changed the registry: %+v", models)
	}
	if _, err := run("import", "--help"); err != nil {
		t.Errorf("--help: %v", err)
	}
}

func TestParseInterspersed(t *testing.T) {
	for _, tt := range []struct {
		args, pos []string
		name      string
	}{
		{[]string{"f", "--name", "n"}, []string{"f"}, "n"},
		{[]string{"--name", "n", "f", "g"}, []string{"f", "g"}, "n"},
		{[]string{"f", "--", "--name", "n"}, []string{"f", "--name", "n"}, ""},
	} {
		fs := flag.NewFlagSet("t", flag.ContinueOnError)
		name := fs.String("name", "", "")
		pos, err := parseInterspersed(fs, tt.args)
		if err != nil || !slices.Equal(pos, tt.pos) || *name != tt.name {
			t.Errorf("parse %q = %q name %q, %v; want %q name %q", tt.args, pos, *name, err, tt.pos, tt.name)
		}
	}
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	fs.SetOutput(new(bytes.Buffer))
	if _, err := parseInterspersed(fs, []string{"f", "--nope"}); err == nil || errors.Is(err, flag.ErrHelp) {
		t.Errorf("unknown flag: %v", err)
	}
}
