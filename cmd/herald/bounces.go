package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/heraldhq/herald/channels/email/bounce"
	"github.com/heraldhq/herald/channels/email/bouncerecv"
	"github.com/heraldhq/herald/channels/email/imappoll"
	"github.com/heraldhq/herald/channels/email/verp"
	"github.com/heraldhq/herald/dispatcher"
)

// verpSigner returns the VERP signer when HERALD_BOUNCE_DOMAIN is set.
func (a *app) verpSigner() (*verp.Signer, error) {
	if a.cfg.BounceDomain == "" {
		return nil, nil
	}
	s := &verp.Signer{Domain: a.cfg.BounceDomain}
	for _, k := range a.cfg.VERPKeys {
		s.Keys = append(s.Keys, []byte(k))
	}
	if err := s.Validate(); err != nil {
		return nil, dispatcher.Errorf(dispatcher.EINVALID, "HERALD_VERP_KEY: %v", err)
	}
	return s, nil
}

func (a *app) bouncesCommand() *cobra.Command {
	cmd := &cobra.Command{Use: "bounces", Short: "Read bounce messages"}
	var asJSON bool
	parse := &cobra.Command{
		Use:   "parse FILE.eml",
		Short: "Show what herald reads from one bounce, complaint or auto-reply",
		Long: `Parse one message as herald's bounce intake would and print its type and,
per recipient, the action, status, reply code, diagnostic and class: invalid
(the address does not exist: the contact is marked and the next channel
tried), soft (retried later) or policy (a problem of the sender, never the
contact's).`,
		Args: exactArgs(1, "give the message file"),
		RunE: func(cmd *cobra.Command, args []string) error {
			f, err := os.Open(args[0])
			if err != nil {
				return dispatcher.Errorf(dispatcher.EINVALID, "open %s: %v", args[0], err)
			}
			defer f.Close()
			rep, err := bounce.Parse(f)
			if err != nil {
				return dispatcher.Errorf(dispatcher.EINVALID, "%s: %v", args[0], err)
			}
			if asJSON {
				enc := json.NewEncoder(a.stdout)
				enc.SetIndent("", "  ")
				return enc.Encode(rep)
			}
			fmt.Fprintf(a.stdout, "type %s", rep.Type)
			if rep.FeedbackType != "" {
				fmt.Fprintf(a.stdout, " (%s)", rep.FeedbackType)
			}
			if rep.DeliveryID != 0 {
				fmt.Fprintf(a.stdout, ", herald delivery %d (unverified)", rep.DeliveryID)
			}
			fmt.Fprintln(a.stdout)
			tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "RECIPIENT\tACTION\tSTATUS\tCODE\tCLASS\tDIAGNOSTIC")
			for _, r := range rep.Recipients {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", r.Address, r.Action, dash(r.Status), dash(r.ReplyCode), r.Class, r.Diagnostic)
			}
			return tw.Flush()
		},
	}
	parse.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	cmd.AddCommand(parse)
	return cmd
}

func (a *app) bounceReceiverCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "bounce-receiver",
		Short: "Receive bounces for HERALD_BOUNCE_DOMAIN by SMTP (and poll an IMAP bounce mailbox)",
		Long: `Run the inbound SMTP server for the bounce domain: point the domain's MX at
it. Each bounce's VERP token is verified (a forged bounce changes nothing), the
message is parsed and classified, and the delivery recorded: an address that
does not exist is marked invalid and the contact's next channel is tried.
Messages that match no delivery are kept in HERALD_BOUNCE_UNMATCHED_DIR.
With HERALD_IMAP_ADDR set it also polls that mailbox, marking what it read.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			if err := a.setLogLevel("info"); err != nil {
				return err
			}
			signer, err := a.verpSigner()
			if err != nil {
				return err
			}
			if signer == nil {
				return dispatcher.Errorf(dispatcher.EINVALID, "set HERALD_BOUNCE_DOMAIN and HERALD_VERP_KEY: the receiver accepts bounces for that domain only")
			}
			sink, err := a.outcomes(ctx)
			if err != nil {
				return err
			}
			srv, err := bouncerecv.Start(bouncerecv.Options{
				Addr: a.cfg.BounceListen, Hostname: a.cfg.BounceHostname, Domains: []string{a.cfg.BounceDomain},
				Sink: sink, Signer: signer, UnmatchedDir: a.cfg.BounceUnmatched, Logger: a.logger,
			})
			if err != nil {
				return fmt.Errorf("bounce receiver: %w", err)
			}
			a.logger.Info("bounce receiver listening", "addr", srv.Addr(), "domain", a.cfg.BounceDomain)
			errc := make(chan error, 1)
			if a.cfg.IMAPAddr != "" {
				p, err := imappoll.New(imappoll.Options{Addr: a.cfg.IMAPAddr, TLS: imappoll.TLSMode(a.cfg.IMAPTLS),
					Username: a.cfg.IMAPUsername, Password: a.cfg.IMAPPassword, Mailbox: a.cfg.IMAPMailbox,
					Processor: srv.Processor(), Logger: a.logger})
				if err != nil {
					_ = srv.Close()
					return fmt.Errorf("IMAP poller: %w", err)
				}
				go func() { errc <- p.Run(ctx) }()
			}
			select {
			case <-ctx.Done():
			case err = <-errc:
			}
			sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
			defer cancel()
			if serr := srv.Shutdown(sctx); serr != nil && err == nil {
				err = serr
			}
			return err
		},
	}
}

// outcomes is the EventSink that applies provider events to the ledger.
func (a *app) outcomes(ctx context.Context) (*dispatcher.Outcomes, error) {
	st, err := a.store(ctx)
	if err != nil {
		return nil, err
	}
	q, err := a.queue(ctx)
	if err != nil {
		return nil, err
	}
	return &dispatcher.Outcomes{Store: st, Queue: q, Logger: a.logger}, nil
}
