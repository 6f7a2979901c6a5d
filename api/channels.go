package api

import (
	"fmt"
	"net/http"
	"net/mail"
	"net/url"
	"slices"
	"strings"

	"github.com/gorilla/mux"

	"github.com/smartmaint/smartmaint/internal/apikey"
	"github.com/smartmaint/smartmaint/internal/notify"
	"github.com/smartmaint/smartmaint/internal/store"
)

// Channels serves a tenant's notification channels and the delivery log.
// Every route needs the admin scope: channels hold webhook secrets.
type Channels struct {
	DB *store.DB
	// Notifier sends test messages; nil disables the test route (503).
	Notifier *notify.Notifier
}

// Register mounts the notification channel routes.
func (h *Channels) Register(v1 *mux.Router) {
	v1.Handle("/notification-channels", Require(apikey.Admin, h.list)).Methods(http.MethodGet)
	v1.Handle("/notification-channels", Require(apikey.Admin, h.create)).Methods(http.MethodPost)
	v1.Handle("/notification-channels/{id}", Require(apikey.Admin, h.get)).Methods(http.MethodGet)
	v1.Handle("/notification-channels/{id}", Require(apikey.Admin, h.update)).Methods(http.MethodPut)
	v1.Handle("/notification-channels/{id}", Require(apikey.Admin, h.delete)).Methods(http.MethodDelete)
	v1.Handle("/notification-channels/{id}/test", Require(apikey.Admin, h.test)).Methods(http.MethodPost)
	v1.Handle("/notification-deliveries", Require(apikey.Admin, h.deliveries)).Methods(http.MethodGet)
}

var channelKinds = []string{"email", "webhook", "slack"}

// channelBody is the writable part of a channel. On update, a missing
// secret keeps the stored one and "" clears it.
type channelBody struct {
	Name   string  `json:"name"`
	Kind   string  `json:"kind"`
	Target string  `json:"target"`
	Secret *string `json:"secret"`
	// Enabled defaults to true.
	Enabled     *bool  `json:"enabled"`
	MinSeverity string `json:"min_severity"`
}

// problems checks b; hasSecret says whether a secret is stored already.
func (b channelBody) problems(hasSecret bool) []ParamError {
	var p []ParamError
	if strings.TrimSpace(b.Name) == "" || len(b.Name) > 100 {
		p = append(p, ParamError{"name", "required, at most 100 characters"})
	}
	if b.MinSeverity != "" && !notify.Severity(b.MinSeverity).Valid() {
		p = append(p, ParamError{"min_severity", fmt.Sprintf("must be one of %v", notify.Severities)})
	}
	switch b.Kind {
	case "email":
		if list, err := mail.ParseAddressList(b.Target); err != nil || len(list) == 0 || len(list) > 50 {
			p = append(p, ParamError{"target", "comma-separated email addresses (at most 50), such as \"ops@example.com, Sue <sue@example.com>\""})
		}
	case "webhook", "slack":
		u, err := url.Parse(b.Target)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.User != nil || len(b.Target) > 2000 {
			p = append(p, ParamError{"target", "an http or https URL without credentials"})
		}
	default:
		p = append(p, ParamError{"kind", fmt.Sprintf("must be one of %v", channelKinds)})
	}
	secretSet := hasSecret
	if b.Secret != nil {
		secretSet = *b.Secret != ""
		if n := len(*b.Secret); (n > 0 && n < 16) || n > 512 {
			p = append(p, ParamError{"secret", "16 to 512 characters"})
		}
	}
	if b.Kind == "webhook" && !secretSet {
		p = append(p, ParamError{"secret", "required for webhooks: requests are signed with it (X-Smartmaint-Signature)"})
	}
	return p
}

func (b channelBody) channel(id string) store.Channel {
	c := store.Channel{ID: id, Name: strings.TrimSpace(b.Name), Kind: b.Kind, Target: strings.TrimSpace(b.Target),
		Enabled: b.Enabled == nil || *b.Enabled, MinSeverity: b.MinSeverity}
	if b.Secret != nil {
		c.Secret = *b.Secret
	}
	return c
}

func (h *Channels) create(w http.ResponseWriter, r *http.Request) {
	var b channelBody
	if !DecodeJSON(w, r, &b) {
		return
	}
	if p := b.problems(false); len(p) > 0 {
		WriteError(w, r, http.StatusUnprocessableEntity, "invalid_channel", "the notification channel is invalid", p)
		return
	}
	c, err := h.DB.CreateChannel(r.Context(), Tenant(r), b.channel(""))
	writeCreated(w, r, "/api/v1/notification-channels/"+c.ID, c, err)
}

func (h *Channels) update(w http.ResponseWriter, r *http.Request) {
	var b channelBody
	if !DecodeJSON(w, r, &b) {
		return
	}
	ctx, tenant, id := r.Context(), Tenant(r), mux.Vars(r)["id"]
	current, err := h.DB.GetChannel(ctx, tenant, id)
	if err != nil {
		WriteStoreError(w, r, err)
		return
	}
	if p := b.problems(current.HasSecret); len(p) > 0 {
		WriteError(w, r, http.StatusUnprocessableEntity, "invalid_channel", "the notification channel is invalid", p)
		return
	}
	c, err := h.DB.UpdateChannel(ctx, tenant, b.channel(id), b.Secret)
	writeStored(w, r, c, err)
}

func (h *Channels) get(w http.ResponseWriter, r *http.Request) {
	c, err := h.DB.GetChannel(r.Context(), Tenant(r), mux.Vars(r)["id"])
	writeStored(w, r, c, err)
}

func (h *Channels) list(w http.ResponseWriter, r *http.Request) {
	items, err := h.DB.ListChannels(r.Context(), Tenant(r), false)
	writeItems(w, r, items, err)
}

func (h *Channels) delete(w http.ResponseWriter, r *http.Request) {
	writeDeleted(w, r, h.DB.DeleteChannel(r.Context(), Tenant(r), mux.Vars(r)["id"]))
}

// test sends a test message on the channel: 200 with the result when it
// went out, 502 with the result when the channel refused it.
func (h *Channels) test(w http.ResponseWriter, r *http.Request) {
	ctx, tenant := r.Context(), Tenant(r)
	c, err := h.DB.GetChannel(ctx, tenant, mux.Vars(r)["id"])
	if err != nil {
		WriteStoreError(w, r, err)
		return
	}
	if h.Notifier == nil {
		WriteUnavailable(w, r, 60, "notifications are not configured on this server")
		return
	}
	res := h.Notifier.SendTest(ctx, tenant, c)
	if res.Outcome != notify.Sent {
		WriteError(w, r, http.StatusBadGateway, "channel_failed", "the channel did not accept the test message: "+res.Error, res)
		return
	}
	WriteJSON(w, http.StatusOK, res)
}

// deliveries lists the delivery log of one message: ?key=<idempotency key>.
func (h *Channels) deliveries(w http.ResponseWriter, r *http.Request) {
	key := r.URL.Query().Get("key")
	if key == "" || len(key) > 500 {
		WriteError(w, r, http.StatusBadRequest, "invalid_query", "invalid query parameters",
			[]ParamError{{"key", "required: the idempotency key of a message"}})
		return
	}
	items, err := h.DB.ListDeliveries(r.Context(), Tenant(r), key)
	if err != nil {
		WriteInternal(w, r, err)
		return
	}
	slices.SortFunc(items, func(a, b store.Delivery) int { return a.CreatedAt.Compare(b.CreatedAt) })
	WriteJSON(w, http.StatusOK, map[string]any{"items": items})
}
