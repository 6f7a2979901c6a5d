package deploy_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io"
	"io/fs"
	"maps"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/smartmaint/smartmaint/internal/config"
)

// root is the repository root, seen from this package's directory.
const root = ".."

// externalVars are read by libraries rather than internal/config; each must
// be documented in docs/CONFIG.md.
var externalVars = []string{"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"}

// configVars returns the environment variables smartmaint reads: the env
// tags of config.Config (nested structs with envPrefix included) and
// externalVars.
func configVars(t *testing.T) map[string]bool {
	t.Helper()
	vars := map[string]bool{}
	var walk func(typ reflect.Type, prefix string)
	walk = func(typ reflect.Type, prefix string) {
		for i := range typ.NumField() {
			f := typ.Field(i)
			if name, _, _ := strings.Cut(f.Tag.Get("env"), ","); name != "" {
				vars[prefix+name] = true
				continue
			}
			if ft := f.Type; ft.Kind() == reflect.Struct && ft.PkgPath() != "time" {
				walk(ft, prefix+f.Tag.Get("envPrefix"))
			}
		}
	}
	walk(reflect.TypeFor[config.Config](), "")
	if len(vars) < 5 {
		t.Fatalf("found only %d variables in config.Config", len(vars))
	}
	doc := readFile(t, "docs/CONFIG.md")
	for _, v := range externalVars {
		if !strings.Contains(doc, v) {
			t.Errorf("%s is used by the deployment files but not documented in docs/CONFIG.md", v)
		}
		vars[v] = true
	}
	return vars
}

// subcommands returns the names in the commands list of cmd/smartmaint.
func subcommands(t *testing.T) map[string]bool {
	t.Helper()
	fset := token.NewFileSet()
	names := map[string]bool{}
	files, err := filepath.Glob(filepath.Join(root, "cmd", "smartmaint", "*.go"))
	if err != nil {
		t.Fatal(err)
	}
	for _, file := range files {
		if strings.HasSuffix(file, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, file, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		ast.Inspect(f, func(n ast.Node) bool {
			as, ok := n.(*ast.AssignStmt)
			if !ok || len(as.Lhs) != 1 || len(as.Rhs) != 1 {
				return true
			}
			if id, ok := as.Lhs[0].(*ast.Ident); !ok || id.Name != "commands" {
				return true
			}
			lit, ok := as.Rhs[0].(*ast.CompositeLit)
			if !ok {
				return true
			}
			for _, e := range lit.Elts {
				c, ok := e.(*ast.CompositeLit)
				if !ok || len(c.Elts) == 0 {
					continue
				}
				if s, ok := c.Elts[0].(*ast.BasicLit); ok && s.Kind == token.STRING {
					name, _ := strconv.Unquote(s.Value)
					names[name] = true
				}
			}
			return false
		})
	}
	for _, want := range []string{"api", "worker", "migrate"} {
		if !names[want] {
			t.Fatalf("subcommands of cmd/smartmaint = %v; %q missing (did the commands list change shape?)", names, want)
		}
	}
	return names
}

// metricKinds maps every smartmaint_ metric defined in the Go sources to its
// kind (Counter, Gauge, Histogram, Summary, or "" when not recognisable).
func metricKinds(t *testing.T) map[string]string {
	t.Helper()
	opts := regexp.MustCompile(`(?s)(Counter|Gauge|Histogram|Summary)Opts\{[^{}]*?Name:\s*"(smartmaint_[a-zA-Z0-9_]+)"`)
	names := regexp.MustCompile(`Name:\s*"(smartmaint_[a-zA-Z0-9_]+)"|NewDesc\(\s*"(smartmaint_[a-zA-Z0-9_]+)"`)
	kinds := map[string]string{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if n := d.Name(); n == ".git" || n == "testdata" || n == "node_modules" {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(p, ".go") || strings.HasSuffix(p, "_test.go") {
			return nil
		}
		src, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		for _, m := range names.FindAllSubmatch(src, -1) {
			n := string(m[1]) + string(m[2])
			if _, ok := kinds[n]; !ok {
				kinds[n] = ""
			}
		}
		for _, m := range opts.FindAllSubmatch(src, -1) {
			kinds[string(m[2])] = string(m[1])
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if kinds["smartmaint_http_requests_total"] != "Counter" || kinds["smartmaint_ingest_commit_duration_seconds"] != "Histogram" {
		t.Fatalf("metric scan found %v; expected the API and ingest metrics", kinds)
	}
	return kinds
}

var metricRef = regexp.MustCompile(`\bsmartmaint_[a-zA-Z0-9_]+`)

// checkMetrics reports smartmaint_ series named in expr that the code does
// not export. Histograms exist only as _bucket, _sum and _count series.
func checkMetrics(t *testing.T, where, expr string, kinds map[string]string) {
	t.Helper()
	for _, p := range metricProblems(expr, kinds) {
		t.Errorf("%s: %s", where, p)
	}
}

func metricProblems(expr string, kinds map[string]string) []string {
	var problems []string
	for _, name := range metricRef.FindAllString(expr, -1) {
		if kind, ok := kinds[name]; ok {
			if kind == "Histogram" {
				problems = append(problems, fmt.Sprintf("histogram %s used without _bucket, _sum or _count", name))
			}
			continue
		}
		found := false
		for _, suffix := range []string{"_bucket", "_sum", "_count"} {
			base, ok := strings.CutSuffix(name, suffix)
			if kind, known := kinds[base]; ok && known && (kind == "Histogram" || kind == "Summary" && suffix != "_bucket" || kind == "") {
				found = true
			}
		}
		if !found {
			problems = append(problems, fmt.Sprintf("metric %s does not exist in the code (Name: \"smartmaint_...\" in a Go source)", name))
		}
	}
	return problems
}

func readFile(t *testing.T, rel string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root, rel))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// ---- docker-compose.yml ----------------------------------------------------

type composeFile struct {
	Services map[string]composeService `yaml:"services"`
	Volumes  map[string]any            `yaml:"volumes"`
}

type composeService struct {
	Image       string                       `yaml:"image"`
	Build       string                       `yaml:"build"`
	Command     []string                     `yaml:"command"`
	Entrypoint  []string                     `yaml:"entrypoint"`
	Environment map[string]string            `yaml:"environment"`
	DependsOn   map[string]composeDependency `yaml:"depends_on"`
	Healthcheck *composeHealthcheck          `yaml:"healthcheck"`
	Ports       []string                     `yaml:"ports"`
	Volumes     []string                     `yaml:"volumes"`
	Restart     string                       `yaml:"restart"`
}

type composeDependency struct {
	Condition string `yaml:"condition"`
}

type composeHealthcheck struct {
	Test        []string `yaml:"test"`
	Interval    string   `yaml:"interval"`
	Timeout     string   `yaml:"timeout"`
	Retries     int      `yaml:"retries"`
	StartPeriod string   `yaml:"start_period"`
}

var interpolation = regexp.MustCompile(`\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])([^}]*))?\}`)

// interpolate resolves ${VAR:-default} the way docker compose does with an
// empty environment; every variable must have a default so that the stack
// starts without an .env file.
func interpolate(src string) (string, error) {
	var errs []error
	out := interpolation.ReplaceAllStringFunc(src, func(m string) string {
		if m == "$$" {
			return "$"
		}
		sub := interpolation.FindStringSubmatch(m)
		if !strings.HasSuffix(sub[2], "-") {
			errs = append(errs, fmt.Errorf("%s has no default (write ${%s:-value})", m, sub[1]))
		}
		return sub[3]
	})
	return out, errors.Join(errs...)
}

func loadCompose(t *testing.T) composeFile {
	t.Helper()
	src, err := interpolate(readFile(t, "docker-compose.yml"))
	if err != nil {
		t.Fatalf("docker-compose.yml: %v", err)
	}
	dec := yaml.NewDecoder(strings.NewReader(src))
	dec.KnownFields(true) // a misspelt key is an error, as in compose
	var c composeFile
	if err := dec.Decode(&c); err != nil {
		t.Fatalf("docker-compose.yml: %v", err)
	}
	return c
}

// pinned reports whether an image reference names an explicit tag other
// than latest.
func pinned(image string) bool {
	name := image[strings.LastIndex(image, "/")+1:]
	_, tag, ok := strings.Cut(name, ":")
	return ok && tag != "" && tag != "latest"
}

// portOf returns the port of a listen address such as ":8080".
func portOf(t *testing.T, addr string) string {
	t.Helper()
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatalf("address %q: %v", addr, err)
	}
	return port
}

// defaultOf returns a config variable's envDefault.
func defaultOf(name string) string {
	typ := reflect.TypeFor[config.Config]()
	for i := range typ.NumField() {
		if n, _, _ := strings.Cut(typ.Field(i).Tag.Get("env"), ","); n == name {
			return typ.Field(i).Tag.Get("envDefault")
		}
	}
	return ""
}

func TestCompose(t *testing.T) {
	c := loadCompose(t)
	vars, cmds := configVars(t), subcommands(t)

	for _, name := range []string{"timescaledb", "redis", "temporal", "temporal-ui", "minio", "migrate", "api", "worker", "prometheus", "grafana"} {
		if _, ok := c.Services[name]; !ok {
			t.Errorf("service %s is missing", name)
		}
	}
	hostPorts := map[string]string{}
	for name, s := range c.Services {
		if !pinned(s.Image) {
			t.Errorf("%s: image %q is not pinned to a tag", name, s.Image)
		}
		for dep, d := range s.DependsOn {
			target, ok := c.Services[dep]
			switch {
			case !ok:
				t.Errorf("%s depends on unknown service %s", name, dep)
			case d.Condition == "service_healthy" && target.Healthcheck == nil:
				t.Errorf("%s waits for %s to be healthy, but %s has no healthcheck", name, dep, dep)
			case d.Condition == "service_completed_successfully" && target.Restart != "no":
				t.Errorf("%s waits for %s to complete, but %s restarts (%q)", name, dep, dep, target.Restart)
			case !slices.Contains([]string{"service_started", "service_healthy", "service_completed_successfully"}, d.Condition):
				t.Errorf("%s: depends_on %s has condition %q", name, dep, d.Condition)
			}
		}
		if h := s.Healthcheck; h != nil && (len(h.Test) < 2 || h.Test[0] != "CMD" && h.Test[0] != "CMD-SHELL") {
			t.Errorf("%s: healthcheck test %q must start with CMD or CMD-SHELL", name, h.Test)
		}
		for _, p := range s.Ports {
			_, host, _, ok := publishedPort(p)
			if !ok {
				t.Errorf("%s: port %q is not [ip:]host:container", name, p)
			} else if other, dup := hostPorts[host]; dup {
				t.Errorf("host port %s used by %s and %s", host, other, name)
			}
			hostPorts[host] = name
		}
		for _, v := range s.Volumes {
			src, _, _ := strings.Cut(v, ":")
			if strings.HasPrefix(src, "./") {
				if _, err := os.Stat(filepath.Join(root, src)); err != nil {
					t.Errorf("%s mounts %s: %v", name, src, err)
				}
			} else if _, ok := c.Volumes[src]; !ok {
				t.Errorf("%s mounts volume %s, not declared under volumes", name, src)
			}
		}
	}
	if cycle := dependencyCycle(c); cycle != "" {
		t.Errorf("depends_on cycle: %s", cycle)
	}

	// The smartmaint services: the image built here, real subcommands and
	// only real settings, pointing at services of this file.
	own := map[string]composeService{}
	for name, s := range c.Services {
		if s.Build != "" {
			own[name] = s
			if s.Build != "." {
				t.Errorf("%s builds %q, want the repository root (the Dockerfile)", name, s.Build)
			}
		}
	}
	want := map[string]string{"migrate": "migrate", "api": "api", "worker": "worker"}
	for name, sub := range want {
		if s, ok := own[name]; !ok || len(s.Command) == 0 || s.Command[0] != sub {
			t.Errorf("service %s must build the image and run `smartmaint %s`", name, sub)
		}
	}
	for name, s := range own {
		if len(s.Command) == 0 || !cmds[s.Command[0]] {
			t.Errorf("%s: command %q is not a smartmaint subcommand (have %v)", name, s.Command, keys(cmds))
		}
		for k, v := range s.Environment {
			if !vars[k] {
				t.Errorf("%s: %s is not a setting of internal/config", name, k)
			}
			checkServiceRef(t, c, name, k, v)
		}
	}
	required := map[string][]string{
		"migrate": {"DATABASE_URL"},
		"api":     {"DATABASE_URL", "REDIS_URL", "TEMPORAL_ADDRESS"},
		"worker":  {"DATABASE_URL", "REDIS_URL", "TEMPORAL_ADDRESS"},
	}
	for name, keys := range required {
		for _, k := range keys {
			if own[name].Environment[k] == "" {
				t.Errorf("%s: %s must be set", name, k)
			}
		}
	}
	// api and worker must meet in the same database, Redis and task queue.
	for _, k := range []string{"DATABASE_URL", "REDIS_URL", "TEMPORAL_ADDRESS", "TEMPORAL_NAMESPACE", "TEMPORAL_TASK_QUEUE", "MODEL_STORE", "S3_BUCKET", "S3_ENDPOINT"} {
		if a, w := own["api"].Environment[k], own["worker"].Environment[k]; a != w {
			t.Errorf("%s differs between api (%q) and worker (%q)", k, a, w)
		}
	}
	if a, m := own["api"].Environment["DATABASE_URL"], own["migrate"].Environment["DATABASE_URL"]; a != m {
		t.Errorf("migrate migrates %q but api uses %q", m, a)
	}
	for _, dep := range []string{"api", "worker"} {
		if d := own[dep].DependsOn["migrate"]; d.Condition != "service_completed_successfully" {
			t.Errorf("%s must start after migrate completed successfully", dep)
		}
		for _, svc := range []string{"redis", "temporal"} {
			if d := own[dep].DependsOn[svc]; d.Condition != "service_healthy" {
				t.Errorf("%s must wait for %s to be healthy", dep, svc)
			}
		}
	}
	if d := own["migrate"].DependsOn["timescaledb"]; d.Condition != "service_healthy" {
		t.Error("migrate must wait for timescaledb to be healthy")
	}
	addr := own["api"].Environment["HTTP_ADDR"]
	if addr == "" {
		addr = defaultOf("HTTP_ADDR")
	}
	port := portOf(t, addr)
	if !slices.ContainsFunc(own["api"].Ports, func(p string) bool { return strings.HasSuffix(p, ":"+port) }) {
		t.Errorf("api listens on %s (HTTP_ADDR) but publishes %v", port, own["api"].Ports)
	}
	// The admin listeners (every tenant's metrics) are published nowhere, and
	// what has no login of its own and shows every tenant's data only on
	// loopback.
	for _, name := range []string{"api", "worker"} {
		admin := portOf(t, composeAdminAddr(own[name]))
		for _, p := range own[name].Ports {
			if _, _, container, _ := publishedPort(p); container == admin {
				t.Errorf("%s publishes its admin listener (ADMIN_ADDR port %s): %q", name, admin, p)
			}
		}
		if own[name].Healthcheck == nil {
			t.Errorf("%s has no healthcheck", name)
		}
	}
	for _, name := range []string{"temporal-ui", "prometheus"} {
		for _, p := range c.Services[name].Ports {
			if ip, _, _, _ := publishedPort(p); ip != "127.0.0.1" {
				t.Errorf("%s publishes %q on every interface; bind it to 127.0.0.1 (docs/DEPLOYMENT.md)", name, p)
			}
		}
	}
}

// publishedPort splits a compose port "[ip:]host:container".
func publishedPort(p string) (ip, host, container string, ok bool) {
	parts := strings.Split(p, ":")
	switch len(parts) {
	case 2:
		return "", parts[0], parts[1], true
	case 3:
		return parts[0], parts[1], parts[2], true
	}
	return "", "", "", false
}

// composeAdminAddr is a compose service's ADMIN_ADDR.
func composeAdminAddr(s composeService) string {
	if a := s.Environment["ADMIN_ADDR"]; a != "" {
		return a
	}
	return defaultOf("ADMIN_ADDR")
}

// checkServiceRef checks that a connection setting names a service of the
// file.
func checkServiceRef(t *testing.T, c composeFile, service, key, value string) {
	t.Helper()
	var host string
	switch key {
	case "DATABASE_URL", "REDIS_URL", "S3_ENDPOINT":
		u, err := url.Parse(value)
		if err != nil {
			t.Errorf("%s: %s: %v", service, key, err)
			return
		}
		host = u.Hostname()
	case "TEMPORAL_ADDRESS":
		h, _, err := net.SplitHostPort(value)
		if err != nil {
			t.Errorf("%s: %s %q is not host:port", service, key, value)
			return
		}
		host = h
	default:
		return
	}
	if _, ok := c.Services[host]; !ok {
		t.Errorf("%s: %s points at %q, which is not a service", service, key, host)
	}
}

func dependencyCycle(c composeFile) string {
	state := map[string]int{} // 1 visiting, 2 done
	var path []string
	var visit func(string) string
	visit = func(n string) string {
		switch state[n] {
		case 1:
			return strings.Join(append(path, n), " → ")
		case 2:
			return ""
		}
		state[n] = 1
		path = append(path, n)
		for _, d := range keys(c.Services[n].DependsOn) {
			if cyc := visit(d); cyc != "" {
				return cyc
			}
		}
		path = path[:len(path)-1]
		state[n] = 2
		return ""
	}
	for _, n := range keys(c.Services) {
		if cyc := visit(n); cyc != "" {
			return cyc
		}
	}
	return ""
}

// TestComposeConfig runs `docker compose config` (or docker-compose) when
// either is installed: its schema validation catches what parsing cannot.
func TestComposeConfig(t *testing.T) {
	var cmd *exec.Cmd
	switch {
	case exec.Command("docker", "compose", "version").Run() == nil:
		cmd = exec.Command("docker", "compose", "-f", "docker-compose.yml", "config", "-q")
	case lookPath("docker-compose"):
		cmd = exec.Command("docker-compose", "-f", "docker-compose.yml", "config", "-q")
	default:
		t.Skip("neither `docker compose` nor docker-compose is installed (apt-get install -y docker-compose); the structure is still checked by TestCompose")
	}
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", cmd, err, out)
	}
}

// ---- Kubernetes ------------------------------------------------------------

type k8sObject struct {
	APIVersion string `yaml:"apiVersion"`
	Kind       string `yaml:"kind"`
	Metadata   struct {
		Name      string            `yaml:"name"`
		Namespace string            `yaml:"namespace"`
		Labels    map[string]string `yaml:"labels"`
	} `yaml:"metadata"`
	Data       map[string]string `yaml:"data"`
	StringData map[string]string `yaml:"stringData"`
	Resources  []string          `yaml:"resources"` // Kustomization
	Images     []struct {
		Name   string `yaml:"name"`
		NewTag string `yaml:"newTag"`
	} `yaml:"images"`
	Spec struct {
		Selector yaml.Node `yaml:"selector"` // Deployment: matchLabels; Service: a map
		Template struct {
			Metadata struct {
				Labels      map[string]string `yaml:"labels"`
				Annotations map[string]string `yaml:"annotations"`
			} `yaml:"metadata"`
			Spec podSpec `yaml:"spec"`
		} `yaml:"template"`
		Ports []struct {
			Name       string    `yaml:"name"`
			Port       int       `yaml:"port"`
			TargetPort yaml.Node `yaml:"targetPort"`
		} `yaml:"ports"`
	} `yaml:"spec"`

	file string
}

type podSpec struct {
	SecurityContext struct {
		RunAsNonRoot bool `yaml:"runAsNonRoot"`
	} `yaml:"securityContext"`
	Containers []container `yaml:"containers"`
}

type container struct {
	Name  string          `yaml:"name"`
	Image string          `yaml:"image"`
	Args  []string        `yaml:"args"`
	Ports []containerPort `yaml:"ports"`
	Env   []struct {
		Name string `yaml:"name"`
	} `yaml:"env"`
	EnvFrom []struct {
		ConfigMapRef *struct{ Name string } `yaml:"configMapRef"`
		SecretRef    *struct{ Name string } `yaml:"secretRef"`
	} `yaml:"envFrom"`
	StartupProbe   *probe `yaml:"startupProbe"`
	LivenessProbe  *probe `yaml:"livenessProbe"`
	ReadinessProbe *probe `yaml:"readinessProbe"`
	Resources      struct {
		Requests map[string]string `yaml:"requests"`
		Limits   map[string]string `yaml:"limits"`
	} `yaml:"resources"`
	SecurityContext struct {
		AllowPrivilegeEscalation *bool `yaml:"allowPrivilegeEscalation"`
	} `yaml:"securityContext"`
}

type containerPort struct {
	Name          string `yaml:"name"`
	ContainerPort int    `yaml:"containerPort"`
}

type probe struct {
	HTTPGet *struct {
		Path string    `yaml:"path"`
		Port yaml.Node `yaml:"port"`
	} `yaml:"httpGet"`
}

func loadK8s(t *testing.T) []k8sObject {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(root, "deploy", "k8s", "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no manifests in deploy/k8s: %v", err)
	}
	var objs []k8sObject
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		dec := yaml.NewDecoder(bytes.NewReader(b))
		for {
			var o k8sObject
			err := dec.Decode(&o)
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatalf("%s: %v", f, err)
			}
			o.file = filepath.Base(f)
			objs = append(objs, o)
		}
	}
	return objs
}

func TestKubernetes(t *testing.T) {
	objs := loadK8s(t)
	vars, cmds := configVars(t), subcommands(t)

	configMaps, secrets := map[string]map[string]string{}, map[string]map[string]string{}
	var kustomization *k8sObject
	files := map[string]bool{}
	for i := range objs {
		o := &objs[i]
		files[o.file] = true
		if o.APIVersion == "" || o.Kind == "" {
			t.Errorf("%s: a document lacks apiVersion or kind", o.file)
			continue
		}
		switch o.Kind {
		case "Kustomization":
			kustomization = o
			continue
		case "ConfigMap":
			configMaps[o.Metadata.Name] = o.Data
		case "Secret":
			secrets[o.Metadata.Name] = o.StringData
		}
		if o.Metadata.Name == "" {
			t.Errorf("%s: %s without metadata.name", o.file, o.Kind)
		}
		if o.Kind != "Namespace" && o.Metadata.Namespace != "smartmaint" {
			t.Errorf("%s: %s %s is in namespace %q, want smartmaint", o.file, o.Kind, o.Metadata.Name, o.Metadata.Namespace)
		}
	}
	if kustomization == nil {
		t.Fatal("deploy/k8s has no kustomization.yaml")
	}
	for _, r := range kustomization.Resources {
		if !files[r] {
			t.Errorf("kustomization.yaml lists %s, which does not exist", r)
		}
	}
	for f := range files {
		if f != "kustomization.yaml" && f != "secret.example.yaml" && !slices.Contains(kustomization.Resources, f) {
			t.Errorf("%s is not listed in kustomization.yaml", f)
		}
	}
	for name, data := range configMaps {
		for k := range data {
			if !vars[k] {
				t.Errorf("ConfigMap %s: %s is not a setting of internal/config", name, k)
			}
		}
	}
	for name, data := range secrets {
		for k := range data {
			if !vars[k] {
				t.Errorf("Secret %s: %s is not a setting of internal/config", name, k)
			}
		}
	}
	smartmaintImage := ""
	for _, img := range kustomization.Images {
		if strings.HasSuffix(img.Name, "/smartmaint") {
			smartmaintImage = img.Name + ":" + img.NewTag
		}
	}

	runs := map[string]string{} // subcommand → workload
	for _, o := range objs {
		if o.Kind != "Deployment" && o.Kind != "Job" {
			continue
		}
		where := o.Kind + " " + o.Metadata.Name
		pod := o.Spec.Template
		if o.Kind == "Deployment" {
			var sel struct {
				MatchLabels map[string]string `yaml:"matchLabels"`
			}
			if err := o.Spec.Selector.Decode(&sel); err != nil || len(sel.MatchLabels) == 0 {
				t.Errorf("%s: no selector.matchLabels", where)
			}
			if !subset(sel.MatchLabels, pod.Metadata.Labels) {
				t.Errorf("%s: selector %v does not match the pod labels %v", where, sel.MatchLabels, pod.Metadata.Labels)
			}
		}
		if !pod.Spec.SecurityContext.RunAsNonRoot {
			t.Errorf("%s: pod securityContext.runAsNonRoot must be true", where)
		}
		for _, c := range pod.Spec.Containers {
			where := where + " container " + c.Name
			if !pinned(c.Image) {
				t.Errorf("%s: image %q is not pinned to a tag", where, c.Image)
			}
			if smartmaintImage != "" && c.Image != smartmaintImage {
				t.Errorf("%s: image %q differs from kustomization's %q", where, c.Image, smartmaintImage)
			}
			if len(c.Args) == 0 || !cmds[c.Args[0]] {
				t.Errorf("%s: args %q do not start with a smartmaint subcommand (have %v)", where, c.Args, keys(cmds))
				continue
			}
			runs[c.Args[0]] = where
			for _, res := range []map[string]string{c.Resources.Requests, c.Resources.Limits} {
				if res["cpu"] == "" || res["memory"] == "" {
					t.Errorf("%s: resources need cpu and memory requests and limits, have %+v", where, c.Resources)
					break
				}
			}
			if c.SecurityContext.AllowPrivilegeEscalation == nil || *c.SecurityContext.AllowPrivilegeEscalation {
				t.Errorf("%s: securityContext.allowPrivilegeEscalation must be false", where)
			}
			env := map[string]string{}
			for _, e := range c.Env {
				env[e.Name] = "env"
				if !vars[e.Name] {
					t.Errorf("%s: env %s is not a setting of internal/config", where, e.Name)
				}
			}
			for _, ef := range c.EnvFrom {
				kind, name, from := "ConfigMap", "", configMaps
				switch {
				case ef.ConfigMapRef != nil:
					name = ef.ConfigMapRef.Name
				case ef.SecretRef != nil:
					kind, name, from = "Secret", ef.SecretRef.Name, secrets
				default:
					continue
				}
				data, ok := from[name]
				if !ok {
					t.Errorf("%s: envFrom names %s %s, which is not in deploy/k8s", where, kind, name)
				}
				maps.Copy(env, data)
			}
			need := []string{"DATABASE_URL"}
			if c.Args[0] != "migrate" {
				need = append(need, "REDIS_URL", "TEMPORAL_ADDRESS")
			}
			for _, k := range need {
				if env[k] == "" {
					t.Errorf("%s: %s is not set", where, k)
				}
			}
			if c.Args[0] != "migrate" {
				checkProbes(t, where, c, env)
				checkAdminPort(t, where, c, env, pod.Metadata.Annotations)
			}
		}
	}
	for _, sub := range []string{"api", "worker", "migrate"} {
		if runs[sub] == "" {
			t.Errorf("no workload runs `smartmaint %s`", sub)
		}
	}
	if !strings.HasPrefix(runs["api"], "Deployment") || !strings.HasPrefix(runs["worker"], "Deployment") || !strings.HasPrefix(runs["migrate"], "Job") {
		t.Errorf("api and worker must be Deployments and migrate a Job: %v", runs)
	}
	checkAPIService(t, objs)
}

// envOr is env[name], or name's default.
func envOr(env map[string]string, name string) string {
	if v := env[name]; v != "" {
		return v
	}
	return defaultOf(name)
}

// checkAdminPort requires the admin listener (ADMIN_ADDR) on all of the
// pod's interfaces as containerPort "admin", and the Prometheus
// annotations scraping /metrics there.
func checkAdminPort(t *testing.T, where string, c container, env map[string]string, annotations map[string]string) {
	t.Helper()
	addr := envOr(env, "ADMIN_ADDR")
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		t.Errorf("%s: ADMIN_ADDR %q: %v", where, addr, err)
		return
	}
	if host != "" && host != "0.0.0.0" {
		t.Errorf("%s: ADMIN_ADDR %q is not reachable by Prometheus on the pod IP", where, addr)
	}
	if !slices.ContainsFunc(c.Ports, func(p containerPort) bool { return p.Name == "admin" && strconv.Itoa(p.ContainerPort) == port }) {
		t.Errorf("%s: no containerPort admin for ADMIN_ADDR port %s", where, port)
	}
	want := map[string]string{"prometheus.io/scrape": "true", "prometheus.io/port": port, "prometheus.io/path": "/metrics"}
	if !subset(want, annotations) {
		t.Errorf("%s: pod annotations %v, want %v", where, annotations, want)
	}
}

// checkProbes requires liveness on /health and readiness on /health/ready
// on the port the container serves them on: HTTP_ADDR for the api (what the
// load balancer sees), ADMIN_ADDR for the worker (its only listener).
func checkProbes(t *testing.T, where string, c container, env map[string]string) {
	t.Helper()
	name := "HTTP_ADDR"
	if c.Args[0] == "worker" {
		name = "ADMIN_ADDR"
	}
	port := portOf(t, envOr(env, name))
	names := map[string]bool{}
	served := false
	for _, p := range c.Ports {
		names[p.Name], names[strconv.Itoa(p.ContainerPort)] = true, true
		served = served || strconv.Itoa(p.ContainerPort) == port
	}
	if !served {
		t.Errorf("%s: %s port %s is not a containerPort", where, name, port)
	}
	for _, p := range []struct {
		name string
		pr   *probe
		path string
	}{{"livenessProbe", c.LivenessProbe, "/health"}, {"readinessProbe", c.ReadinessProbe, "/health/ready"}, {"startupProbe", c.StartupProbe, "/health"}} {
		switch {
		case p.pr == nil && p.name == "startupProbe":
		case p.pr == nil || p.pr.HTTPGet == nil:
			t.Errorf("%s: %s must be an httpGet on %s", where, p.name, p.path)
		case p.pr.HTTPGet.Path != p.path:
			t.Errorf("%s: %s probes %s, want %s", where, p.name, p.pr.HTTPGet.Path, p.path)
		case !names[p.pr.HTTPGet.Port.Value]:
			t.Errorf("%s: %s probes port %q, which the container does not declare", where, p.name, p.pr.HTTPGet.Port.Value)
		}
	}
}

// checkAPIService requires a Service that selects the api pods and targets
// their HTTP port.
func checkAPIService(t *testing.T, objs []k8sObject) {
	t.Helper()
	var api *k8sObject
	for i := range objs {
		if objs[i].Kind == "Deployment" && len(objs[i].Spec.Template.Spec.Containers) > 0 && slices.Equal(objs[i].Spec.Template.Spec.Containers[0].Args, []string{"api"}) {
			api = &objs[i]
		}
	}
	if api == nil {
		return
	}
	for _, o := range objs {
		if o.Kind != "Service" {
			continue
		}
		var sel map[string]string
		if err := o.Spec.Selector.Decode(&sel); err != nil || !subset(sel, api.Spec.Template.Metadata.Labels) {
			continue
		}
		ports := map[string]bool{}
		for _, p := range api.Spec.Template.Spec.Containers[0].Ports {
			ports[p.Name], ports[strconv.Itoa(p.ContainerPort)] = true, true
		}
		for _, p := range o.Spec.Ports {
			if !ports[p.TargetPort.Value] {
				t.Errorf("Service %s targets port %q, which the api container does not declare", o.Metadata.Name, p.TargetPort.Value)
			}
			for _, cp := range api.Spec.Template.Spec.Containers[0].Ports {
				if cp.Name == "admin" && (p.TargetPort.Value == "admin" || p.TargetPort.Value == strconv.Itoa(cp.ContainerPort)) {
					t.Errorf("Service %s exposes the admin listener (every tenant's metrics)", o.Metadata.Name)
				}
			}
		}
		return
	}
	t.Error("no Service selects the api pods")
}

// ---- Dockerfile --------------------------------------------------------------

// dockerInstructions returns the Dockerfile's instructions with line
// continuations joined and comments dropped.
func dockerInstructions(t *testing.T) []string {
	t.Helper()
	var out []string
	var cur strings.Builder
	sc := bufio.NewScanner(strings.NewReader(readFile(t, "Dockerfile")))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if strings.HasPrefix(line, "#") || line == "" && cur.Len() == 0 {
			continue
		}
		if s, ok := strings.CutSuffix(line, "\\"); ok {
			cur.WriteString(s + " ")
			continue
		}
		cur.WriteString(line)
		out = append(out, cur.String())
		cur.Reset()
	}
	return out
}

func TestDockerfile(t *testing.T) {
	ins := dockerInstructions(t)
	cmds := subcommands(t)
	goVersion := regexp.MustCompile(`(?m)^go (\S+)`).FindStringSubmatch(readFile(t, "go.mod"))
	if goVersion == nil {
		t.Fatal("go.mod has no go directive")
	}
	var froms []string
	var argGo, build, binary, user, entry, cmd string
	final := false
	for _, in := range ins {
		op, rest, _ := strings.Cut(in, " ")
		switch strings.ToUpper(op) {
		case "ARG":
			if v, ok := strings.CutPrefix(rest, "GO_VERSION="); ok {
				argGo = v
			}
		case "FROM":
			froms = append(froms, rest)
			user = ""
		case "RUN":
			if strings.Contains(rest, "go build") {
				build = rest
				if m := regexp.MustCompile(`-o (\S+)`).FindStringSubmatch(rest); m != nil {
					binary = m[1]
				}
			}
		case "USER":
			user = rest
		case "ENTRYPOINT":
			entry = rest
		case "CMD":
			cmd = rest
		}
		final = len(froms) > 1
	}
	if argGo != goVersion[1] {
		t.Errorf("Dockerfile ARG GO_VERSION=%s, go.mod says go %s", argGo, goVersion[1])
	}
	if len(froms) < 2 || !final {
		t.Fatalf("want a multi-stage build, have FROM %q", froms)
	}
	if !strings.HasPrefix(froms[0], "golang:${GO_VERSION}") || !strings.HasSuffix(froms[0], " AS build") {
		t.Errorf("first stage %q: want golang:${GO_VERSION}-… AS build", froms[0])
	}
	last := froms[len(froms)-1]
	if !strings.HasPrefix(last, "gcr.io/distroless/static") && last != "scratch" {
		t.Errorf("final stage %q: want distroless/static or scratch", last)
	}
	for _, want := range []string{"CGO_ENABLED=0", "go build", "-trimpath", "-s -w", "./cmd/smartmaint"} {
		if !strings.Contains(build, want) {
			t.Errorf("the go build step %q lacks %s", build, want)
		}
	}
	if user == "" || user == "root" || strings.HasPrefix(user, "0:") || user == "0" {
		t.Errorf("final stage runs as %q, want a non-root USER", user)
	}
	var ep, args []string
	if err := json.Unmarshal([]byte(entry), &ep); err != nil || len(ep) != 1 {
		t.Errorf("ENTRYPOINT %s: want the exec form with the binary", entry)
	}
	if err := json.Unmarshal([]byte(cmd), &args); err != nil || len(args) == 0 || !cmds[args[0]] {
		t.Errorf("CMD %s: want the exec form with a smartmaint subcommand", cmd)
	}
	if binary == "" || len(ep) == 1 && path.Base(ep[0]) != path.Base(binary) {
		t.Errorf("ENTRYPOINT %v does not run the built %s", ep, binary)
	}
	if !slices.ContainsFunc(ins, func(s string) bool { return strings.HasPrefix(s, "COPY --from=build "+binary+" ") }) {
		t.Errorf("no COPY --from=build %s into the final image", binary)
	}

	// .dockerignore must keep everything the build needs.
	for _, line := range strings.Split(readFile(t, ".dockerignore"), "\n") {
		pat := strings.TrimSpace(line)
		if pat == "" || strings.HasPrefix(pat, "#") || strings.HasPrefix(pat, "!") {
			continue
		}
		for _, need := range []string{"go.mod", "go.sum", "cmd", "internal", "api", "migrations", "workflows", "activities", "workers"} {
			if ok, _ := path.Match(pat, need); ok {
				t.Errorf(".dockerignore pattern %q excludes %s, which the build needs", pat, need)
			}
		}
	}
}

// ---- Prometheus, alerts and Grafana -----------------------------------------

type promConfig struct {
	RuleFiles     []string `yaml:"rule_files"`
	ScrapeConfigs []struct {
		JobName       string `yaml:"job_name"`
		StaticConfigs []struct {
			Targets []string `yaml:"targets"`
		} `yaml:"static_configs"`
	} `yaml:"scrape_configs"`
}

type ruleFile struct {
	Groups []struct {
		Name  string `yaml:"name"`
		Rules []struct {
			Alert       string            `yaml:"alert"`
			Record      string            `yaml:"record"`
			Expr        string            `yaml:"expr"`
			Labels      map[string]string `yaml:"labels"`
			Annotations map[string]string `yaml:"annotations"`
		} `yaml:"rules"`
	} `yaml:"groups"`
}

func TestPrometheus(t *testing.T) {
	var cfg promConfig
	if err := yaml.Unmarshal([]byte(readFile(t, "deploy/prometheus.yml")), &cfg); err != nil {
		t.Fatalf("deploy/prometheus.yml: %v", err)
	}
	compose := loadCompose(t)
	prom := compose.Services["prometheus"]
	mounted := map[string]string{} // container path → repository path
	for _, v := range prom.Volumes {
		parts := strings.Split(v, ":")
		if len(parts) >= 2 && strings.HasPrefix(parts[0], "./") {
			mounted[parts[1]] = strings.TrimPrefix(parts[0], "./")
		}
	}
	configPath := ""
	for _, a := range prom.Command {
		if v, ok := strings.CutPrefix(a, "--config.file="); ok {
			configPath = v
		}
	}
	if mounted[configPath] != "deploy/prometheus.yml" {
		t.Errorf("compose prometheus reads %q, which is not deploy/prometheus.yml (mounts %v)", configPath, mounted)
	}
	for _, rf := range cfg.RuleFiles {
		if _, err := os.Stat(filepath.Join(root, "deploy", rf)); err != nil {
			t.Errorf("rule file %s: %v", rf, err)
		}
		if in := path.Join(path.Dir(configPath), rf); mounted[in] != path.Join("deploy", rf) {
			t.Errorf("rule file %s is not mounted at %s in the prometheus service", rf, in)
		}
	}
	jobs := map[string]bool{}
	for _, sc := range cfg.ScrapeConfigs {
		jobs[sc.JobName] = true
		for _, st := range sc.StaticConfigs {
			for _, target := range st.Targets {
				host, _, err := net.SplitHostPort(target)
				if err != nil {
					t.Errorf("job %s: target %q: %v", sc.JobName, target, err)
					continue
				}
				if _, ok := compose.Services[host]; !ok && host != "localhost" {
					t.Errorf("job %s scrapes %s, which is not a compose service", sc.JobName, host)
				}
			}
		}
	}
	// Each smartmaint job scrapes its service's admin listener.
	for job, svc := range map[string]string{"smartmaint-api": "api", "smartmaint-worker": "worker"} {
		if !jobs[job] {
			t.Errorf("prometheus.yml does not scrape the %s (job %s)", svc, job)
			continue
		}
		var targets []string
		for _, sc := range cfg.ScrapeConfigs {
			for _, st := range sc.StaticConfigs {
				if sc.JobName == job {
					targets = append(targets, st.Targets...)
				}
			}
		}
		port := portOf(t, composeAdminAddr(compose.Services[svc]))
		if !slices.Contains(targets, svc+":"+port) {
			t.Errorf("job %s scrapes %v, not the %s's admin listener at %s:%s", job, targets, svc, svc, port)
		}
	}
}

func TestAlertRules(t *testing.T) {
	kinds := metricKinds(t)
	var rf ruleFile
	if err := yaml.Unmarshal([]byte(readFile(t, "deploy/alerts.yml")), &rf); err != nil {
		t.Fatalf("deploy/alerts.yml: %v", err)
	}
	alerts := map[string]bool{}
	for _, g := range rf.Groups {
		for _, r := range g.Rules {
			name := r.Alert + r.Record
			where := "deploy/alerts.yml " + g.Name + "/" + name
			if (r.Alert == "") == (r.Record == "") || strings.TrimSpace(r.Expr) == "" {
				t.Errorf("%s: a rule needs exactly one of alert and record, and an expr", where)
			}
			checkMetrics(t, where, r.Expr, kinds)
			if r.Alert == "" {
				continue
			}
			if alerts[r.Alert] {
				t.Errorf("%s: duplicate alert", where)
			}
			alerts[r.Alert] = true
			if !slices.Contains([]string{"critical", "warning", "info"}, r.Labels["severity"]) {
				t.Errorf("%s: severity label %q, want critical, warning or info", where, r.Labels["severity"])
			}
			if r.Annotations["summary"] == "" || r.Annotations["description"] == "" {
				t.Errorf("%s: needs summary and description annotations", where)
			}
		}
	}
	for _, want := range []string{"SmartmaintTargetDown", "SmartmaintAPIErrorRatioHigh", "SmartmaintAPILatencyP99High", "SmartmaintIngestCommitSlow", "SmartmaintIngestStalled", "SmartmaintIngestQueueRejections"} {
		if !alerts[want] {
			t.Errorf("alert %s is missing", want)
		}
	}
	// Every alert has a case in alerts_test.yml.
	tests := readFile(t, "deploy/alerts_test.yml")
	for a := range alerts {
		if !strings.Contains(tests, "alertname: "+a+"\n") {
			t.Errorf("alert %s has no case in deploy/alerts_test.yml", a)
		}
	}
}

// TestPromtool runs promtool's config and rule checks and the alert unit
// tests. .ci/run installs it (Debian's prometheus package).
func TestPromtool(t *testing.T) {
	if !lookPath("promtool") {
		t.Skip("promtool is not installed (apt-get install -y prometheus); the rules are still parsed by TestAlertRules")
	}
	for _, args := range [][]string{
		{"check", "config", "prometheus.yml"},
		{"check", "rules", "alerts.yml"},
		{"test", "rules", "alerts_test.yml"},
	} {
		cmd := exec.Command("promtool", args...)
		cmd.Dir = filepath.Join(root, "deploy")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
}

type dashboard struct {
	UID        string `json:"uid"`
	Title      string `json:"title"`
	Templating struct {
		List []struct {
			Name    string `json:"name"`
			Type    string `json:"type"`
			Query   string `json:"query"`
			Current struct {
				Value string `json:"value"`
			} `json:"current"`
		} `json:"list"`
	} `json:"templating"`
	Panels []panel `json:"panels"`
}

type panel struct {
	ID         int    `json:"id"`
	Type       string `json:"type"`
	Title      string `json:"title"`
	Datasource *struct {
		Type string `json:"type"`
		UID  string `json:"uid"`
	} `json:"datasource"`
	Targets []struct {
		Expr string `json:"expr"`
	} `json:"targets"`
	Panels []panel `json:"panels"` // collapsed rows
}

func TestGrafana(t *testing.T) {
	kinds := metricKinds(t)
	compose := loadCompose(t)
	mounts := map[string]string{} // repository path → container path
	for _, v := range compose.Services["grafana"].Volumes {
		parts := strings.Split(v, ":")
		if len(parts) >= 2 && strings.HasPrefix(parts[0], "./") {
			mounts[strings.TrimPrefix(parts[0], "./")] = parts[1]
		}
	}
	if mounts["deploy/grafana/provisioning"] != "/etc/grafana/provisioning" {
		t.Errorf("grafana must mount deploy/grafana/provisioning at /etc/grafana/provisioning, mounts %v", mounts)
	}
	var ds struct {
		Datasources []struct {
			UID  string `yaml:"uid"`
			Type string `yaml:"type"`
			URL  string `yaml:"url"`
		} `yaml:"datasources"`
	}
	if err := yaml.Unmarshal([]byte(readFile(t, "deploy/grafana/provisioning/datasources/prometheus.yml")), &ds); err != nil || len(ds.Datasources) != 1 {
		t.Fatalf("datasource provisioning: %v", err)
	}
	if u, err := url.Parse(ds.Datasources[0].URL); err != nil || compose.Services[u.Hostname()].Image == "" {
		t.Errorf("the datasource URL %q does not point at a compose service", ds.Datasources[0].URL)
	}
	var providers struct {
		Providers []struct {
			Options struct {
				Path string `yaml:"path"`
			} `yaml:"options"`
		} `yaml:"providers"`
	}
	if err := yaml.Unmarshal([]byte(readFile(t, "deploy/grafana/provisioning/dashboards/smartmaint.yml")), &providers); err != nil || len(providers.Providers) != 1 {
		t.Fatalf("dashboard provisioning: %v", err)
	}
	if p := providers.Providers[0].Options.Path; mounts["deploy/grafana/dashboards"] != p {
		t.Errorf("the dashboard provider reads %s, but deploy/grafana/dashboards is mounted at %q", p, mounts["deploy/grafana/dashboards"])
	}

	files, err := filepath.Glob(filepath.Join(root, "deploy", "grafana", "dashboards", "*.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no dashboards: %v", err)
	}
	for _, f := range files {
		var d dashboard
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(b, &d); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		where := filepath.Base(f)
		if d.UID == "" || d.Title == "" {
			t.Errorf("%s: needs a uid and a title", where)
		}
		dsVar := false
		for _, v := range d.Templating.List {
			if v.Type == "datasource" && v.Name == "datasource" && v.Query == "prometheus" && v.Current.Value == ds.Datasources[0].UID {
				dsVar = true
			}
		}
		if !dsVar {
			t.Errorf("%s: needs a datasource variable of type prometheus defaulting to the provisioned uid %q", where, ds.Datasources[0].UID)
		}
		ids := map[int]bool{}
		var check func(ps []panel)
		check = func(ps []panel) {
			for _, p := range ps {
				if ids[p.ID] {
					t.Errorf("%s: panel id %d used twice", where, p.ID)
				}
				ids[p.ID] = true
				if p.Type == "row" {
					check(p.Panels)
					continue
				}
				if p.Datasource == nil || p.Datasource.UID != "${datasource}" {
					t.Errorf("%s: panel %q must use the ${datasource} variable", where, p.Title)
				}
				if len(p.Targets) == 0 {
					t.Errorf("%s: panel %q has no queries", where, p.Title)
				}
				for _, tg := range p.Targets {
					if strings.TrimSpace(tg.Expr) == "" {
						t.Errorf("%s: panel %q has an empty query", where, p.Title)
					}
					checkMetrics(t, where+" panel "+strconv.Quote(p.Title), tg.Expr, kinds)
				}
			}
		}
		check(d.Panels)
	}
}

// TestMetricCheckCatchesUnknownNames makes sure the metric check can fail.
func TestMetricCheckCatchesUnknownNames(t *testing.T) {
	kinds := map[string]string{"smartmaint_x_seconds": "Histogram", "smartmaint_y_total": "Counter"}
	for _, tt := range []struct {
		expr string
		ok   bool
	}{
		{`rate(smartmaint_y_total[5m])`, true},
		{`histogram_quantile(0.9, rate(smartmaint_x_seconds_bucket[5m]))`, true},
		{`rate(smartmaint_x_seconds_sum[5m]) / rate(smartmaint_x_seconds_count[5m])`, true},
		{`rate(smartmaint_x_seconds[5m])`, false},
		{`rate(smartmaint_y_total_bucket[5m])`, false},
		{`rate(smartmaint_z_total[5m])`, false},
		{`smartmaint:recorded:rate5m`, true},
	} {
		if got := metricProblems(tt.expr, kinds); (len(got) == 0) != tt.ok {
			t.Errorf("metricProblems(%q) = %q, want ok %t", tt.expr, got, tt.ok)
		}
	}
}

func TestInterpolate(t *testing.T) {
	got, err := interpolate(`a: ${X:-1} b: ${Y-two} c: $$HOME d: $${Z}`)
	if err != nil || got != `a: 1 b: two c: $HOME d: ${Z}` {
		t.Errorf("interpolate = %q, %v", got, err)
	}
	if _, err := interpolate(`${NO_DEFAULT}`); err == nil {
		t.Error("a variable without default was accepted")
	}
}

func subset(a, b map[string]string) bool {
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return len(a) > 0
}

func keys[V any](m map[string]V) []string { return slices.Sorted(maps.Keys(m)) }

func lookPath(name string) bool {
	_, err := exec.LookPath(name)
	return err == nil
}
