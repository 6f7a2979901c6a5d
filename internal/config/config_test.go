package config

import (
	"os"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestDocumented keeps docs/CONFIG.md in step with Config: every variable
// is listed with its default, and nothing else is.
func TestDocumented(t *testing.T) {
	doc, err := os.ReadFile("../../docs/CONFIG.md")
	if err != nil {
		t.Fatal(err)
	}
	row := regexp.MustCompile("(?m)^\\| `([A-Z0-9_]+)` \\|\\s*`?([^|`]*?)`?\\s*\\|")
	documented := map[string]string{}
	for _, m := range row.FindAllStringSubmatch(string(doc), -1) {
		documented[m[1]] = strings.TrimSpace(m[2])
	}
	typ := reflect.TypeFor[Config]()
	inCode := map[string]bool{}
	for i := range typ.NumField() {
		f := typ.Field(i)
		name := f.Tag.Get("env")
		if name == "" {
			continue
		}
		inCode[name] = true
		def, ok := documented[name]
		if !ok {
			t.Errorf("%s (Config.%s) is not documented in docs/CONFIG.md", name, f.Name)
			continue
		}
		if want := f.Tag.Get("envDefault"); def != want {
			t.Errorf("%s: docs/CONFIG.md says default %q, code says %q", name, def, want)
		}
	}
	for name := range documented {
		if !inCode[name] {
			t.Errorf("docs/CONFIG.md documents %s, which Config does not have", name)
		}
	}
}

func TestLoadDefaultsAndValidation(t *testing.T) {
	// Defaults, whatever the environment of the test run says.
	typ := reflect.TypeFor[Config]()
	for i := range typ.NumField() {
		if name := typ.Field(i).Tag.Get("env"); name != "" {
			t.Setenv(name, typ.Field(i).Tag.Get("envDefault"))
		}
	}
	c, err := Load()
	if err != nil {
		t.Fatal(err)
	}
	if c.HTTPAddr != ":8080" || c.ReadingsRetention != 720*time.Hour || c.IngestFlushers < 1 {
		t.Errorf("defaults = %+v", c)
	}
	tests := []struct {
		env, value, want string
	}{
		{"INGEST_FLUSHERS", "0", "INGEST_FLUSHERS"},
		{"NOTIFY_DENY_NETWORKS", "10.0.0.0", "NOTIFY_DENY_NETWORKS"},
		{"SMTP_TLS", "ssl", "SMTP_TLS"},
		{"READINGS_RETENTION", "1h", "READINGS_RETENTION"},
		{"PARTITION_LOOKAHEAD", "2h", "PARTITION_LOOKAHEAD"},
		{"MAX_READINGS_PER_REQUEST", "0", "MAX_READINGS_PER_REQUEST"},
		{"HTTP_ADDR", "", ""},
		{"INGEST_COMMIT_TIMEOUT", "soon", "INGEST_COMMIT_TIMEOUT"},
		{"PREVENTIVE_INTERVAL", "30s", "PREVENTIVE_INTERVAL"},
		{"PREVENTIVE_LEAD", "-1h", "PREVENTIVE_LEAD"},
		{"PREVENTIVE_LEAD", "0s", ""},
		{"PUBLIC_URL", "smartmaint.example", "PUBLIC_URL"},
		{"PUBLIC_URL", "https://smartmaint.example", ""},
		{"DEV_SINK_KEEP", "0", "DEV_SINK_KEEP"},
	}
	for _, tt := range tests {
		t.Run(tt.env, func(t *testing.T) {
			t.Setenv(tt.env, tt.value)
			_, err := Load()
			if tt.want == "" {
				if err != nil {
					t.Fatalf("err = %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want mention of %s", err, tt.want)
			}
		})
	}
}

func TestSMTPImplicitTLS(t *testing.T) {
	tests := []struct {
		mode, addr string
		want       bool
	}{
		{"auto", "smtp.example.com:465", true},
		{"auto", "smtp.example.com:587", false},
		{"auto", "", false},
		{"implicit", "relay.plant.local:2465", true},
		{"starttls", "smtp.example.com:465", false},
	}
	for _, tt := range tests {
		got, err := Config{SMTPTLS: tt.mode, SMTPAddr: tt.addr}.SMTPImplicitTLS()
		if err != nil || got != tt.want {
			t.Errorf("SMTP_TLS=%s SMTP_ADDR=%s: %v, %v; want %v", tt.mode, tt.addr, got, err, tt.want)
		}
	}
}
