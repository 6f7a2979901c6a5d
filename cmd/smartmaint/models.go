package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/smartmaint/smartmaint/internal/registry"
)

// modelsSubcommand is one `smartmaint models` subcommand. Adding one (say
// train) is one more entry in modelsSubcommands.
type modelsSubcommand struct {
	name, args, summary string
	run                 func(ctx context.Context, c *modelsClient, args []string, out io.Writer) error
	// flags declares the subcommand's own flags; they are parsed together
	// with --url and --api-key, before and after the positional arguments.
	flags func(fs *flag.FlagSet) any
}

// modelsSubcommands are the subcommands of `smartmaint models`, in the
// order the usage lists them.
var modelsSubcommands = []modelsSubcommand{
	{"import", "FILE --name NAME [--alias champion|challenger] [--note TEXT]", "upload a model file as the model's next version", modelsImport, importFlags},
	{"list", "[NAME]", "list the models, or one model's versions", modelsList, nil},
	{"promote", "NAME VERSION [--alias champion|challenger] [--reason TEXT] [--force]", "move an alias (champion by default) to a version", modelsPromote, promoteFlags},
	{"rollback", "NAME [--alias champion|challenger]", "move an alias back to the version it held before its latest move", modelsRollback, aliasFlags},
	{"train", "NAME --kind anomaly|failure_risk|rul --asset-type TYPE --from TIME --to TIME [--alias challenger|champion] [--horizon 24h] [--feature NAME=SOURCE]…",
		"train a model from the tenant's stored readings, showing its progress", modelsTrain, trainFlags},
}

// modelsUsage is the usage of `smartmaint models`.
func modelsUsage() string {
	var b strings.Builder
	b.WriteString("usage:\n")
	for _, c := range modelsSubcommands {
		fmt.Fprintf(&b, "  smartmaint models %s %s\n", c.name, c.args)
	}
	b.WriteString("\n")
	for _, c := range modelsSubcommands {
		fmt.Fprintf(&b, "  %-9s %s\n", c.name, c.summary)
	}
	b.WriteString("\nEvery subcommand talks to the API: --url ($SMARTMAINT_URL) and --api-key\n" +
		"($SMARTMAINT_API_KEY; default DEV_API_KEY, the key of smartmaint dev). See docs/REGISTRY.md.")
	return b.String()
}

// modelsDefaults are the API URL and key used when the flags are not given.
type modelsDefaults struct{ URL, Key string }

// runModels manages the model registry through the API.
func runModels(args []string) error {
	cfg, err := loadConfig()
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	d := modelsDefaults{URL: envOr("SMARTMAINT_URL", localURL(cfg.HTTPAddr)), Key: envOr("SMARTMAINT_API_KEY", cfg.DevAPIKey)}
	return modelsCommand(ctx, d, args, os.Stdout, os.Stderr)
}

// modelsCommand runs one models subcommand: results to out, usage to info.
func modelsCommand(ctx context.Context, d modelsDefaults, args []string, out, info io.Writer) error {
	if len(args) == 0 {
		return errors.New(modelsUsage())
	}
	if args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprintln(info, modelsUsage())
		return nil
	}
	i := slices.IndexFunc(modelsSubcommands, func(c modelsSubcommand) bool { return c.name == args[0] })
	if i < 0 {
		return fmt.Errorf("unknown models subcommand %q\n%s", args[0], modelsUsage())
	}
	sub := modelsSubcommands[i]
	fs := flag.NewFlagSet("models "+sub.name, flag.ContinueOnError)
	fs.SetOutput(info)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: smartmaint models %s %s\n\n%s.\n\nflags:\n", sub.name, sub.args, sub.summary)
		fs.PrintDefaults()
	}
	c := &modelsClient{http: &http.Client{Timeout: 5 * time.Minute}}
	fs.StringVar(&c.base, "url", d.URL, "API base URL ($SMARTMAINT_URL)")
	fs.StringVar(&c.key, "api-key", d.Key, "API key sent as X-API-Key ($SMARTMAINT_API_KEY)")
	var opts any
	if sub.flags != nil {
		opts = sub.flags(fs)
	}
	pos, err := parseInterspersed(fs, args[1:])
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	if err != nil {
		return err
	}
	if c.key == "" {
		return errors.New("no API key: set SMARTMAINT_API_KEY or pass --api-key")
	}
	c.base = strings.TrimRight(c.base, "/")
	c.opts = opts
	return sub.run(ctx, c, pos, out)
}

// parseInterspersed parses fs from args, allowing flags after positional
// arguments (`import FILE --name N`), and returns the positional ones.
// Everything after "--" is positional.
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		rest := fs.Args()
		if consumed := len(args) - len(rest); consumed > 0 && args[consumed-1] == "--" {
			return append(pos, rest...), nil
		}
		if len(rest) == 0 {
			return pos, nil
		}
		pos, args = append(pos, rest[0]), rest[1:]
	}
}

type importOptions struct{ name, alias, note string }

func importFlags(fs *flag.FlagSet) any {
	o := &importOptions{}
	fs.StringVar(&o.name, "name", "", "model name (required), e.g. iforest-milling-machine")
	fs.StringVar(&o.alias, "alias", "", "alias the new version takes at once: champion or challenger (default none)")
	fs.StringVar(&o.note, "note", "", "remark kept with the version (and the alias move's reason)")
	return o
}

type promoteOptions struct {
	alias, reason string
	force         bool
}

func promoteFlags(fs *flag.FlagSet) any {
	o := &promoteOptions{}
	fs.StringVar(&o.alias, "alias", registry.Champion, "alias to move: champion or challenger")
	fs.StringVar(&o.reason, "reason", "", "why, kept in the alias history (default: promoted with smartmaint models promote)")
	fs.BoolVar(&o.force, "force", false, "promote to champion even if the version's recorded verdict says it is worse than the champion")
	return o
}

func aliasFlags(fs *flag.FlagSet) any {
	alias := new(string)
	fs.StringVar(alias, "alias", registry.Champion, "alias to roll back: champion or challenger")
	return alias
}

// modelsImport uploads a model file: POST /api/v1/models/{name}/versions
// with the file's SHA-256 as Content-Digest.
func modelsImport(ctx context.Context, c *modelsClient, args []string, out io.Writer) error {
	o := c.opts.(*importOptions)
	switch {
	case len(args) != 1:
		return errors.New("models import: want one model file, e.g. smartmaint models import model.smm --name iforest-milling-machine")
	case o.name == "":
		return errors.New("models import: --name is required")
	}
	data, err := os.ReadFile(args[0])
	if err != nil {
		return fmt.Errorf("models import: %w", err)
	}
	sum := sha256.Sum256(data)
	q := url.Values{}
	if o.alias != "" {
		q.Set("alias", o.alias)
	}
	if o.note != "" {
		q.Set("note", o.note)
	}
	var v struct {
		registry.Version
		AliasEvent *registry.AliasEvent `json:"alias_event"`
	}
	header := http.Header{
		"Content-Type":   {"application/octet-stream"},
		"Content-Digest": {"sha-256=:" + base64.StdEncoding.EncodeToString(sum[:]) + ":"},
	}
	if err := c.do(ctx, http.MethodPost, modelPath(o.name, "versions"), q, bytes.NewReader(data), header, &v); err != nil {
		return fmt.Errorf("models import: %w", err)
	}
	fmt.Fprintf(out, "imported %s version %d: kind %s, %d features, %d bytes, sha256 %s\n",
		v.Name, v.Version.Version, v.Kind, len(v.Features), v.Artifact.Size, hex.EncodeToString(sum[:]))
	if v.AliasEvent != nil {
		fmt.Fprintf(out, "%s of %s: %s → v%d\n", v.AliasEvent.Alias, v.Name, versionLabel(v.AliasEvent.From), v.AliasEvent.To)
	}
	return nil
}

// modelsList prints the tenant's models, or one model's versions (every
// page), as a table.
func modelsList(ctx context.Context, c *modelsClient, args []string, out io.Writer) error {
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	switch len(args) {
	case 0:
		var page struct {
			Items []registry.Model `json:"items"`
		}
		if err := c.do(ctx, http.MethodGet, "/api/v1/models", nil, nil, nil, &page); err != nil {
			return fmt.Errorf("models list: %w", err)
		}
		fmt.Fprintln(tw, "NAME\tLATEST\tCHAMPION\tCHALLENGER\tUPDATED")
		for _, m := range page.Items {
			fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\n", m.Name, m.LatestVersion, versionLabel(m.Aliases[registry.Champion]),
				versionLabel(m.Aliases[registry.Challenger]), m.UpdatedAt.UTC().Format(time.RFC3339))
		}
	case 1:
		var all []registry.Version
		var model registry.Model
		for before := 0; ; {
			var page struct {
				Model      registry.Model     `json:"model"`
				Items      []registry.Version `json:"items"`
				NextBefore int                `json:"next_before"`
			}
			q := url.Values{"limit": {"1000"}}
			if before > 0 {
				q.Set("before", strconv.Itoa(before))
			}
			if err := c.do(ctx, http.MethodGet, modelPath(args[0], "versions"), q, nil, nil, &page); err != nil {
				return fmt.Errorf("models list: %w", err)
			}
			model, all = page.Model, append(all, page.Items...)
			if before = page.NextBefore; before == 0 {
				break
			}
		}
		fmt.Fprintln(tw, "VERSION\tKIND\tFEATURES\tALIASES\tCREATED\tCREATED BY\tNOTE")
		for _, v := range all {
			var aliases []string
			for _, a := range registry.Aliases {
				if model.Aliases[a] == v.Version {
					aliases = append(aliases, a)
				}
			}
			fmt.Fprintf(tw, "%d\t%s\t%d\t%s\t%s\t%s\t%s\n", v.Version, v.Kind, len(v.Features), orDash(strings.Join(aliases, ",")),
				v.CreatedAt.UTC().Format(time.RFC3339), v.CreatedBy, orDash(v.Note))
		}
	default:
		return errors.New("models list: want at most one model name")
	}
	return tw.Flush()
}

// modelsPromote moves an alias: POST /api/v1/models/{name}/promote.
func modelsPromote(ctx context.Context, c *modelsClient, args []string, out io.Writer) error {
	o := c.opts.(*promoteOptions)
	if len(args) != 2 {
		return errors.New("models promote: want a model name and a version, e.g. smartmaint models promote iforest-milling-machine 3")
	}
	version, err := strconv.Atoi(strings.TrimPrefix(args[1], "v"))
	if err != nil || version < 1 {
		return fmt.Errorf("models promote: version %q is not a version number", args[1])
	}
	if o.reason == "" {
		o.reason = "promoted with smartmaint models promote"
	}
	body, _ := json.Marshal(map[string]any{"version": version, "alias": o.alias, "reason": o.reason, "force": o.force})
	var ev registry.AliasEvent
	if err := c.do(ctx, http.MethodPost, modelPath(args[0], "promote"), nil, bytes.NewReader(body), http.Header{"Content-Type": {"application/json"}}, &ev); err != nil {
		if e := (*apiError)(nil); errors.As(err, &e) && e.Code == "challenger_worse" {
			return fmt.Errorf("models promote: %w (--force promotes it anyway)", err)
		}
		return fmt.Errorf("models promote: %w", err)
	}
	fmt.Fprintf(out, "%s of %s: %s → v%d\n", ev.Alias, ev.Name, versionLabel(ev.From), ev.To)
	return nil
}

// modelsRollback moves an alias back:
// POST /api/v1/models/{name}/aliases/{alias}/rollback.
func modelsRollback(ctx context.Context, c *modelsClient, args []string, out io.Writer) error {
	alias := *c.opts.(*string)
	if len(args) != 1 {
		return errors.New("models rollback: want a model name, e.g. smartmaint models rollback iforest-milling-machine")
	}
	var ev registry.AliasEvent
	if err := c.do(ctx, http.MethodPost, modelPath(args[0], "aliases", alias, "rollback"), nil, nil, nil, &ev); err != nil {
		return fmt.Errorf("models rollback: %w", err)
	}
	fmt.Fprintf(out, "%s of %s rolled back: %s → v%d\n", ev.Alias, ev.Name, versionLabel(ev.From), ev.To)
	return nil
}

// versionLabel is "v3", or "-" for no version.
func versionLabel(v int) string {
	if v == 0 {
		return "-"
	}
	return "v" + strconv.Itoa(v)
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// modelPath is /api/v1/models/<name>/<rest…> with the parts escaped.
func modelPath(name string, rest ...string) string {
	parts := []string{"/api/v1/models", url.PathEscape(name)}
	for _, r := range rest {
		parts = append(parts, url.PathEscape(r))
	}
	return strings.Join(parts, "/")
}

// modelsClient calls the API with an API key.
type modelsClient struct {
	base, key string
	http      *http.Client
	// opts are the subcommand's own flags (what its flags function made).
	opts any
}

// apiError is an error answer of the API.
type apiError struct {
	Status  int
	Code    string          `json:"code"`
	Message string          `json:"message"`
	Details json.RawMessage `json:"details"`
}

// Error is the API's status, code and message, then the details as JSON.
func (e *apiError) Error() string {
	msg := fmt.Sprintf("the API answered %d %s: %s", e.Status, e.Code, e.Message)
	if len(e.Details) > 0 && string(e.Details) != "null" {
		msg += " " + string(e.Details)
	}
	return msg
}

// do sends a request and decodes a 2xx JSON answer into out; any other
// answer is an *apiError.
func (c *modelsClient) do(ctx context.Context, method, path string, q url.Values, body io.Reader, header http.Header, out any) error {
	u := c.base + path
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, method, u, body)
	if err != nil {
		return fmt.Errorf("request: %w", err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	req.Header.Set("X-API-Key", c.key)
	req.Header.Set("Accept", "application/json")
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return fmt.Errorf("%s %s: read the answer: %w", method, path, err)
	}
	if resp.StatusCode/100 != 2 {
		var e struct {
			Error apiError `json:"error"`
		}
		if json.Unmarshal(raw, &e) != nil || e.Error.Code == "" {
			return fmt.Errorf("%s %s: the API answered %s: %.200s", method, path, resp.Status, raw)
		}
		e.Error.Status = resp.StatusCode
		return &e.Error
	}
	if err := json.Unmarshal(raw, out); err != nil {
		return fmt.Errorf("%s %s: decode the answer: %w", method, path, err)
	}
	return nil
}
