package app

import (
	"slices"
	"testing"

	"github.com/smartmaint/smartmaint/internal/config"
	"github.com/smartmaint/smartmaint/internal/notify"
)

// TestDenyNetworksDefault keeps NOTIFY_DENY_NETWORKS' default and
// notify.DefaultDeniedNetworks the same list.
func TestDenyNetworksDefault(t *testing.T) {
	cfg, err := config.Load()
	if err != nil {
		t.Fatal(err)
	}
	got, err := cfg.DeniedNetworks()
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, notify.DefaultDeniedNetworks) {
		t.Errorf("NOTIFY_DENY_NETWORKS defaults to %v, notify.DefaultDeniedNetworks is %v", got, notify.DefaultDeniedNetworks)
	}
}
