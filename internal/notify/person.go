package notify

import (
	"context"
	"errors"
	"fmt"

	"github.com/google/uuid"

	"github.com/smartmaint/smartmaint/internal/store"
)

// deliveryNamespace derives the delivery id of a message sent to a person
// rather than a channel from its tenant and key.
var deliveryNamespace = uuid.MustParse("5b0f3c1e-52f4-4b8e-9d5a-6b1f2a7c9e01")

// SendEmailTo emails msg to the address to — a person, such as a
// technician, rather than one of the tenant's channels — by the email
// sender. attempt counts from 1. Such a send is outside the delivery log:
// the caller makes it once (a Temporal activity, retried only when it
// fails). Every attempt with the same tenant and key has the same
// Message-ID, so a mail client shows a repeat once. The error wraps
// ErrPermanent when a retry cannot help (no SMTP server configured, a bad
// address).
func (n *Notifier) SendEmailTo(ctx context.Context, tenant, key, to string, attempt int, msg Message) error {
	if key == "" {
		return errors.New("notify: empty idempotency key")
	}
	sender, ok := n.Senders["email"]
	if !ok {
		return permanent(errors.New("notify: no email sender"))
	}
	id := uuid.NewSHA1(deliveryNamespace, []byte(tenant+"\x00"+key)).String()
	ch := store.Channel{Kind: "email", Name: "email to " + to, Target: to}
	if err := sender.Send(ctx, ch, Delivery{ID: id, Key: key, Tenant: tenant, Attempt: attempt}, msg); err != nil {
		return fmt.Errorf("notify: email to %s: %w", to, err)
	}
	return nil
}
