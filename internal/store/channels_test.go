package store_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/smartmaint/smartmaint/internal/store"
	"github.com/smartmaint/smartmaint/internal/testenv"
)

func TestChannelCRUD(t *testing.T) {
	db, _ := testenv.DB(t)
	ctx := context.Background()
	testenv.Tenant(t, db, "acme")
	testenv.Tenant(t, db, "other")

	hook, err := db.CreateChannel(ctx, "acme", store.Channel{Name: "ops hook", Kind: "webhook", Target: "https://ops.example/hook", Secret: "s3cret", Enabled: true, MinSeverity: "major"})
	if err != nil {
		t.Fatal(err)
	}
	if !hook.HasSecret || hook.Secret != "s3cret" || hook.MinSeverity != "major" {
		t.Errorf("created %+v", hook)
	}
	mail, err := db.CreateChannel(ctx, "acme", store.Channel{Name: "maintenance team", Kind: "email", Target: "team@example.com", Enabled: false})
	if err != nil {
		t.Fatal(err)
	}
	if mail.MinSeverity != "info" || mail.HasSecret {
		t.Errorf("defaults: %+v", mail)
	}
	if _, err := db.CreateChannel(ctx, "acme", store.Channel{Name: "ops hook", Kind: "slack", Target: "https://x"}); !errors.Is(err, store.ErrConflict) {
		t.Errorf("duplicate name: err = %v, want ErrConflict", err)
	}
	if _, err := db.CreateChannel(ctx, "acme", store.Channel{Name: "pager", Kind: "pager", Target: "x"}); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("unknown kind: err = %v, want ErrInvalid", err)
	}

	hook.Target = "https://ops.example/v2"
	got, err := db.UpdateChannel(ctx, "acme", hook, nil)
	if err != nil || got.Secret != "s3cret" || got.Target != "https://ops.example/v2" {
		t.Errorf("update keeping the secret = %+v, %v", got, err)
	}
	empty := ""
	if got, err := db.UpdateChannel(ctx, "acme", hook, &empty); err != nil || got.HasSecret {
		t.Errorf("update clearing the secret = %+v, %v", got, err)
	}
	enabled, err := db.ListChannels(ctx, "acme", true)
	if err != nil || len(enabled) != 1 || enabled[0].ID != hook.ID {
		t.Errorf("enabled channels = %+v, %v", enabled, err)
	}
	if all, _ := db.ListChannels(ctx, "acme", false); len(all) != 2 {
		t.Errorf("all channels = %d, want 2", len(all))
	}
	if theirs, _ := db.ListChannels(ctx, "other", false); len(theirs) != 0 {
		t.Errorf("other tenant sees %d channels", len(theirs))
	}
	if _, err := db.GetChannel(ctx, "other", hook.ID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("other tenant get: err = %v", err)
	}
	if err := db.DeleteChannel(ctx, "acme", mail.ID); err != nil {
		t.Fatal(err)
	}
	if err := db.DeleteChannel(ctx, "acme", mail.ID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("second delete: err = %v", err)
	}
}

func TestClaimDelivery(t *testing.T) {
	db, _ := testenv.DB(t)
	ctx := context.Background()
	testenv.Tenant(t, db, "acme")
	ch, err := db.CreateChannel(ctx, "acme", store.Channel{Name: "hook", Kind: "webhook", Target: "https://x", Enabled: true})
	if err != nil {
		t.Fatal(err)
	}
	const stale = time.Minute

	first, claimed, err := db.ClaimDelivery(ctx, "acme", "msg-1", ch.ID, stale)
	if err != nil || !claimed || first.Status != store.DeliverySending || first.Attempts != 1 || first.DeliveryID == "" {
		t.Fatalf("first claim = %+v, %v, %v", first, claimed, err)
	}
	// While one sender is at work, a second caller must not send.
	if d, claimed, err := db.ClaimDelivery(ctx, "acme", "msg-1", ch.ID, stale); err != nil || claimed || d.Status != store.DeliverySending {
		t.Errorf("concurrent claim = %+v, %v, %v; want not claimed", d, claimed, err)
	}
	// A failure can be retried, with the same delivery id.
	if err := db.FinishDelivery(ctx, "acme", "msg-1", ch.ID, errors.New("502 Bad Gateway")); err != nil {
		t.Fatal(err)
	}
	retry, claimed, err := db.ClaimDelivery(ctx, "acme", "msg-1", ch.ID, stale)
	if err != nil || !claimed || retry.Attempts != 2 || retry.DeliveryID != first.DeliveryID || retry.LastError != "502 Bad Gateway" {
		t.Fatalf("retry claim = %+v, %v, %v", retry, claimed, err)
	}
	if err := db.FinishDelivery(ctx, "acme", "msg-1", ch.ID, nil); err != nil {
		t.Fatal(err)
	}
	// Once sent, never again.
	d, claimed, err := db.ClaimDelivery(ctx, "acme", "msg-1", ch.ID, stale)
	if err != nil || claimed || d.Status != store.DeliverySent || d.SentAt == nil {
		t.Errorf("claim after success = %+v, %v, %v; want not claimed", d, claimed, err)
	}
	// A sender that crashed after claiming leaves "sending": after staleAfter
	// it is taken over.
	if _, claimed, _ := db.ClaimDelivery(ctx, "acme", "msg-2", ch.ID, stale); !claimed {
		t.Fatal("msg-2 not claimed")
	}
	if _, err := db.Pool.Exec(ctx, `UPDATE notification_deliveries SET claimed_at = now() - interval '2 minutes' WHERE idempotency_key = 'msg-2'`); err != nil {
		t.Fatal(err)
	}
	if d, claimed, err := db.ClaimDelivery(ctx, "acme", "msg-2", ch.ID, stale); err != nil || !claimed || d.Attempts != 2 {
		t.Errorf("stale claim = %+v, %v, %v; want claimed", d, claimed, err)
	}
	log, err := db.ListDeliveries(ctx, "acme", "msg-1")
	if err != nil || len(log) != 1 || log[0].Status != store.DeliverySent {
		t.Errorf("delivery log = %+v, %v", log, err)
	}
	if _, _, err := db.ClaimDelivery(ctx, "acme", "msg-3", "7d6f1c2e-0000-4000-8000-000000000000", stale); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("unknown channel: err = %v, want ErrNotFound", err)
	}
}
