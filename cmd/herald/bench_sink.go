package main

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/heraldhq/herald/channels/smtpd"
	"github.com/heraldhq/herald/channels/twiliodouble"
)

// sinkReady is the first line `herald bench sink` prints on stdout, as
// JSON, once it accepts connections: where the workers send to.
type sinkReady struct {
	SMTPAddr         string `json:"smtp_addr"`
	TwilioURL        string `json:"twilio_url"`
	TwilioAccountSID string `json:"twilio_account_sid"`
	// TwilioAuthToken is the double's own made-up token, not a secret.
	TwilioAuthToken string `json:"twilio_auth_token"`
}

// sinkCounts is the last line the sink prints, as JSON, when it is told
// to stop: what it accepted, so the bench can check it against the ledger.
type sinkCounts struct {
	SMTPMessages    int   `json:"smtp_messages"`
	SMTPBytes       int64 `json:"smtp_bytes"`
	SMTPConnections int   `json:"smtp_connections"`
	SMSMessages     int   `json:"sms_messages"`
}

func (a *app) benchSinkCommand() *cobra.Command {
	var addr, cpuprofile string
	cmd := &cobra.Command{
		Use:   "sink",
		Short: "Accept and discard e-mail and SMS: the far end of `herald bench`",
		Long: `Run an SMTP server that accepts every message and keeps none (so millions
pass in constant memory) and a Twilio API double that accepts every SMS, until
interrupted. It prints one JSON line when ready (the SMTP address, the Twilio
URL and credentials) and one when it stops (how many messages each accepted).

herald bench starts it as a separate process so that its CPU and memory are not
counted against the workers; it can also be run by hand to point workers at.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return a.runBenchSink(cmd.Context(), addr, cpuprofile)
		},
	}
	cmd.Flags().StringVar(&addr, "addr", "127.0.0.1:2525", "SMTP listen address (port 0 picks a free port)")
	cmd.Flags().StringVar(&cpuprofile, "cpuprofile", "", "write a CPU profile of the sink to this file")
	return cmd
}

// runBenchSink serves until ctx ends (SIGINT or SIGTERM in main).
func (a *app) runBenchSink(ctx context.Context, addr, cpuprofile string) (err error) {
	stopProfile, err := startCPUProfile(cpuprofile, a.logger)
	if err != nil {
		return err
	}
	defer stopProfile()
	mta, err := smtpd.Start(smtpd.Options{Addr: addr, Hostname: "sink.bench.example", Discard: true, Logger: a.logger})
	if err != nil {
		return fmt.Errorf("start SMTP sink: %w", err)
	}
	// Closing reports connections it had to cut (workers still holding
	// pooled connections when the bench stops the sink): worth a warning,
	// not a failed bench.
	defer func() {
		if cerr := mta.Close(); cerr != nil {
			a.logger.Warn("closing the SMTP sink", "err", cerr)
		}
	}()
	tw, err := twiliodouble.Start(twiliodouble.Options{Logger: a.logger})
	if err != nil {
		return fmt.Errorf("start Twilio double: %w", err)
	}
	defer func() {
		if cerr := tw.Close(); cerr != nil {
			a.logger.Warn("closing the Twilio double", "err", cerr)
		}
	}()

	enc := json.NewEncoder(a.stdout)
	if err := enc.Encode(sinkReady{SMTPAddr: mta.Addr(), TwilioURL: tw.URL(), TwilioAccountSID: tw.AccountSID(), TwilioAuthToken: tw.AuthToken()}); err != nil {
		return fmt.Errorf("announce sink: %w", err)
	}
	<-ctx.Done()
	counts := sinkCounts{SMTPMessages: mta.Count(), SMTPBytes: mta.Bytes(), SMTPConnections: mta.Connections(), SMSMessages: tw.Count()}
	if err := enc.Encode(counts); err != nil {
		return fmt.Errorf("report sink counts: %w", err)
	}
	return nil
}
