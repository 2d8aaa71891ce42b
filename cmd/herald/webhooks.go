package main

import (
	"context"
	"net/http"
	"strings"

	"github.com/heraldhq/herald/dispatcher"
	"github.com/heraldhq/herald/web/webhooks"
)

// webhooks builds the provider callback endpoints the configuration
// enables, all applying events to the ledger through one Outcomes sink;
// nil when none is enabled.
//
//	/webhooks/twilio    HERALD_TWILIO_AUTH_TOKEN and HERALD_PUBLIC_URL
//	/webhooks/ses       HERALD_SES_TOPIC_ARNS (comma-separated)
//	/webhooks/sendgrid  HERALD_SENDGRID_PUBLIC_KEY
func (a *app) webhooks(ctx context.Context) (http.Handler, error) {
	opts := webhooks.Options{Logger: a.logger}
	public := strings.TrimRight(a.getenv("HERALD_PUBLIC_URL"), "/")
	if a.cfg.TwilioAuthToken != "" {
		if public == "" {
			return nil, dispatcher.Errorf(dispatcher.EINVALID, "HERALD_PUBLIC_URL is not set: Twilio signs its callbacks over the public URL it calls (e.g. https://herald.example.org), so herald needs it to check them")
		}
		opts.Twilio = &webhooks.TwilioOptions{AuthToken: a.cfg.TwilioAuthToken, PublicBaseURL: public, DeliveryParam: "delivery"}
	}
	if arns := a.getenv("HERALD_SES_TOPIC_ARNS"); arns != "" {
		opts.SES = &webhooks.SESOptions{TopicARNs: strings.Split(arns, ","), ConfirmSubscriptions: a.getenv("HERALD_SES_CONFIRM") == "true"}
	}
	if key := a.getenv("HERALD_SENDGRID_PUBLIC_KEY"); key != "" {
		opts.SendGrid = &webhooks.SendGridOptions{PublicKey: key}
	}
	if opts.Twilio == nil && opts.SES == nil && opts.SendGrid == nil {
		return nil, nil
	}
	sink, err := a.outcomes(ctx)
	if err != nil {
		return nil, err
	}
	opts.Sink = sink
	return webhooks.New(opts)
}
