package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// Channel is where a tenant's notifications go.
type Channel struct {
	ID   string `json:"id"`
	Name string `json:"name"`
	// Kind is "email", "webhook" or "slack".
	Kind string `json:"kind"`
	// Target is the comma-separated recipients (email) or the URL.
	Target string `json:"target"`
	// Secret is the webhook's HMAC key; never shown by the API.
	Secret string `json:"-"`
	// HasSecret tells API readers whether Secret is set.
	HasSecret bool `json:"secret_set"`
	Enabled   bool `json:"enabled"`
	// MinSeverity drops messages below it: info, warning, minor, major,
	// critical.
	MinSeverity string    `json:"min_severity"`
	CreatedAt   time.Time `json:"created_at"`
	UpdatedAt   time.Time `json:"updated_at"`
}

const channelColumns = `id::text, name, kind, target, secret, enabled, min_severity, created_at, updated_at`

func scanChannel(row pgx.Row) (Channel, error) {
	var c Channel
	err := row.Scan(&c.ID, &c.Name, &c.Kind, &c.Target, &c.Secret, &c.Enabled, &c.MinSeverity, &c.CreatedAt, &c.UpdatedAt)
	c.HasSecret = c.Secret != ""
	return c, err
}

// CreateChannel inserts c. ErrConflict when the name is taken.
func (db *DB) CreateChannel(ctx context.Context, tenant string, c Channel) (Channel, error) {
	if c.MinSeverity == "" {
		c.MinSeverity = "info"
	}
	out, err := queryOne(ctx, db, tenant, scanChannel, `
			INSERT INTO notification_channels (tenant_id, name, kind, target, secret, enabled, min_severity)
			VALUES ($1, $2, $3, $4, $5, $6, $7)
			RETURNING `+channelColumns, tenant, c.Name, c.Kind, c.Target, c.Secret, c.Enabled, c.MinSeverity)
	if err != nil {
		return Channel{}, fmt.Errorf("store: create channel %q: %w", c.Name, mapError(err))
	}
	return out, nil
}

// UpdateChannel replaces the mutable fields of channel c.ID. A nil secret
// keeps the stored one.
func (db *DB) UpdateChannel(ctx context.Context, tenant string, c Channel, secret *string) (Channel, error) {
	if uuid.Validate(c.ID) != nil {
		return Channel{}, fmt.Errorf("store: channel %q: %w", c.ID, ErrNotFound)
	}
	if c.MinSeverity == "" {
		c.MinSeverity = "info"
	}
	out, err := queryOne(ctx, db, tenant, scanChannel, `
			UPDATE notification_channels SET name = $2, kind = $3, target = $4, secret = coalesce($5, secret),
				enabled = $6, min_severity = $7, updated_at = now()
			WHERE id = $1
			RETURNING `+channelColumns, c.ID, c.Name, c.Kind, c.Target, secret, c.Enabled, c.MinSeverity)
	return out, notFound(err, "channel", c.ID)
}

// GetChannel returns the channel with id.
func (db *DB) GetChannel(ctx context.Context, tenant, id string) (Channel, error) {
	return GetByID(ctx, db, tenant, "channel", id, `SELECT `+channelColumns+` FROM notification_channels WHERE id = $1`, scanChannel)
}

// ListChannels returns the tenant's channels ordered by name; enabledOnly
// keeps the enabled ones.
func (db *DB) ListChannels(ctx context.Context, tenant string, enabledOnly bool) ([]Channel, error) {
	out, err := queryAll(ctx, db, tenant, scanChannel, `SELECT `+channelColumns+` FROM notification_channels WHERE enabled OR NOT $1 ORDER BY name`, enabledOnly)
	if err != nil {
		return nil, fmt.Errorf("store: list channels: %w", err)
	}
	return out, nil
}

// DeleteChannel removes a channel and its delivery log.
func (db *DB) DeleteChannel(ctx context.Context, tenant, id string) error {
	return DeleteByID(ctx, db, tenant, "channel", id, `DELETE FROM notification_channels WHERE id = $1`)
}

// DeliveryStatus is the state of one message on one channel.
type DeliveryStatus string

// The delivery statuses.
const (
	// DeliverySending: claimed by a sender, outcome not yet recorded.
	DeliverySending DeliveryStatus = "sending"
	// DeliverySent: the channel accepted the message.
	DeliverySent DeliveryStatus = "sent"
	// DeliveryFailed: the last attempt failed; a retry may claim it again.
	DeliveryFailed DeliveryStatus = "failed"
)

// Delivery is the log entry of one message (by idempotency key) on one
// channel.
type Delivery struct {
	IdempotencyKey string `json:"idempotency_key"`
	ChannelID      string `json:"channel_id"`
	// DeliveryID is the same on every attempt: receivers dedupe on it.
	DeliveryID string         `json:"delivery_id"`
	Status     DeliveryStatus `json:"status"`
	Attempts   int            `json:"attempts"`
	LastError  string         `json:"last_error,omitempty"`
	ClaimedAt  time.Time      `json:"claimed_at"`
	SentAt     *time.Time     `json:"sent_at,omitempty"`
	CreatedAt  time.Time      `json:"created_at"`
}

const deliveryColumns = `idempotency_key, channel_id::text, delivery_id::text, status, attempts, last_error, claimed_at, sent_at, created_at`

// ClaimDelivery records that the message key is about to be sent on channel.
// It reports claimed true when the caller should send: the first attempt, a
// retry after a failure, or a retry after an attempt that stayed "sending"
// for longer than staleAfter (its sender presumably crashed; whether that
// send got through is unknown, so the receiver may see the message twice,
// with the same DeliveryID). Otherwise the returned Delivery says why not:
// already sent, or being sent right now by someone else.
func (db *DB) ClaimDelivery(ctx context.Context, tenant, key, channelID string, staleAfter time.Duration) (d Delivery, claimed bool, err error) {
	err = db.InTenant(ctx, tenant, func(tx pgx.Tx) error {
		d, err = scanDelivery(tx.QueryRow(ctx, `
			INSERT INTO notification_deliveries AS d (tenant_id, idempotency_key, channel_id, status)
			VALUES ($1, $2, $3, 'sending')
			ON CONFLICT (tenant_id, idempotency_key, channel_id) DO UPDATE
				SET status = 'sending', attempts = d.attempts + 1, claimed_at = now()
				WHERE d.status = 'failed' OR (d.status = 'sending' AND d.claimed_at < now() - $4::interval)
			RETURNING `+deliveryColumns, tenant, key, channelID, staleAfter))
		if err == nil {
			claimed = true
			return nil
		}
		if !errors.Is(err, pgx.ErrNoRows) {
			return err
		}
		d, err = scanDelivery(tx.QueryRow(ctx, `
			SELECT `+deliveryColumns+` FROM notification_deliveries WHERE idempotency_key = $1 AND channel_id = $2`,
			key, channelID))
		return err
	})
	if err != nil {
		return Delivery{}, false, fmt.Errorf("store: claim delivery %q on channel %s: %w", key, channelID, mapError(err))
	}
	return d, claimed, nil
}

func scanDelivery(row pgx.Row) (Delivery, error) {
	var d Delivery
	err := row.Scan(&d.IdempotencyKey, &d.ChannelID, &d.DeliveryID, &d.Status, &d.Attempts, &d.LastError, &d.ClaimedAt, &d.SentAt, &d.CreatedAt)
	return d, err
}

// FinishDelivery records the outcome of a claimed send: sent when sendErr is
// nil, failed with its text otherwise.
func (db *DB) FinishDelivery(ctx context.Context, tenant, key, channelID string, sendErr error) error {
	status, msg := DeliverySent, ""
	if sendErr != nil {
		status, msg = DeliveryFailed, sendErr.Error()
	}
	err := db.InTenant(ctx, tenant, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `
			UPDATE notification_deliveries
			SET status = $3, last_error = $4, sent_at = CASE WHEN $3 = 'sent' THEN now() END
			WHERE idempotency_key = $1 AND channel_id = $2`, key, channelID, status, msg)
		return err
	})
	if err != nil {
		return fmt.Errorf("store: finish delivery %q on channel %s: %w", key, channelID, err)
	}
	return nil
}

// ListDeliveries returns the delivery log of the message key, by channel.
func (db *DB) ListDeliveries(ctx context.Context, tenant, key string) ([]Delivery, error) {
	out, err := queryAll(ctx, db, tenant, scanDelivery, `SELECT `+deliveryColumns+` FROM notification_deliveries WHERE idempotency_key = $1 ORDER BY channel_id`, key)
	if err != nil {
		return nil, fmt.Errorf("store: list deliveries of %q: %w", key, err)
	}
	return out, nil
}
