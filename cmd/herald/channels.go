package main

import (
	"context"
	"fmt"
	"strings"

	"github.com/heraldhq/herald/channels/email"
	"github.com/heraldhq/herald/channels/file"
	"github.com/heraldhq/herald/channels/sms"
	"github.com/heraldhq/herald/dispatcher"
)

// buildChannels makes the channels the configuration enables: e-mail when
// an SMTP host is set, SMS when a Twilio account is, and the
// dry-run file channel when HERALD_FILE_DIR is set. A worker serves only
// the queues of the channels it has.
func (a *app) buildChannels(_ context.Context) (map[dispatcher.ChannelKind]dispatcher.Channel, error) {
	chans := map[dispatcher.ChannelKind]dispatcher.Channel{}
	if a.cfg.SMTPHost != "" {
		mode, err := email.ParseTLSMode(a.cfg.SMTPTLS)
		if err != nil {
			return nil, dispatcher.Errorf(dispatcher.EINVALID, "HERALD_SMTP_TLS: %v", err)
		}
		cfg := email.Config{
			Host: a.cfg.SMTPHost, Port: a.cfg.SMTPPort, Username: a.cfg.SMTPUsername, Password: a.cfg.SMTPPassword,
			TLS: mode, HELOName: a.cfg.SMTPHelo, PoolSize: a.cfg.SMTPPool, NoPipelining: !a.cfg.SMTPPipelining,
		}
		if signer, err := a.verpSigner(); err != nil {
			return nil, err
		} else if signer != nil {
			// Bounces come back to bounces+TOKEN@HERALD_BOUNCE_DOMAIN,
			// where `herald bounce-receiver` verifies the token.
			cfg.ReturnPath = func(m *dispatcher.Message) string { return signer.Address(m.DeliveryID) }
		}
		ch, err := email.New(cfg, email.WithLogger(a.logger))
		if err != nil {
			return nil, fmt.Errorf("e-mail channel: %w", err)
		}
		a.closers = append(a.closers, ch.Close)
		chans[dispatcher.Email] = ch
	}
	if a.cfg.TwilioAccountSID != "" {
		callback := a.cfg.TwilioStatusCallback
		if public := strings.TrimRight(a.getenv("HERALD_PUBLIC_URL"), "/"); callback == "" && public != "" {
			callback = public + "/webhooks/twilio"
		}
		cfg := sms.Config{
			AccountSID: a.cfg.TwilioAccountSID, AuthToken: a.cfg.TwilioAuthToken,
			BaseURL: a.cfg.TwilioAPIURL, StatusCallback: callback,
		}
		if callback != "" {
			// The delivery id in the callback URL lets the webhook find the
			// delivery even before the ledger holds Twilio's message SID.
			cfg.CallbackDeliveryParam = "delivery"
		}
		ch, err := sms.New(cfg, sms.WithLogger(a.logger))
		if err != nil {
			return nil, fmt.Errorf("SMS channel: %w", err)
		}
		a.closers = append(a.closers, ch.Close)
		chans[dispatcher.SMS] = ch
	}
	if a.cfg.FileDir != "" {
		fc, err := file.New(a.cfg.FileDir, file.WithLogger(a.logger))
		if err != nil {
			return nil, fmt.Errorf("file channel: %w", err)
		}
		chans[dispatcher.File] = fc
	}
	if len(chans) == 0 {
		return nil, dispatcher.Errorf(dispatcher.EINVALID, "no channel configured: set HERALD_SMTP_HOST (e-mail), HERALD_TWILIO_ACCOUNT_SID (SMS) or HERALD_FILE_DIR (dry run)")
	}
	return chans, nil
}
