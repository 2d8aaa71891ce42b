package main

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/heraldhq/herald/dispatcher"
)

// lookupResult is everything herald holds about one person in one campaign.
type lookupResult struct {
	Campaign   string         `json:"campaign"`
	Contact    contactView    `json:"contact"`
	Deliveries []deliveryView `json:"deliveries"`
}

type contactView struct {
	ExternalID string `json:"external_id,omitempty"`
	Name       string `json:"name"`
	Email      string `json:"email,omitempty"`
	Phone      string `json:"phone,omitempty"`
	Locale     string `json:"locale,omitempty"`
	Country    string `json:"country,omitempty"`
}

type deliveryView struct {
	Channel    string      `json:"channel"`
	State      string      `json:"state"`
	Address    string      `json:"address,omitempty"`
	ProviderID string      `json:"provider_id,omitempty"`
	Events     []eventView `json:"events"`
}

type eventView struct {
	At         time.Time `json:"at"`
	State      string    `json:"state"`
	ProviderID string    `json:"provider_id,omitempty"`
	Code       string    `json:"code,omitempty"`
	Diagnostic string    `json:"diagnostic,omitempty"`
}

func (a *app) statusCommand() *cobra.Command {
	var format, region string
	var limit int
	cmd := &cobra.Command{
		Use:   "status EMAIL|PHONE|EXTERNAL-ID|NAME",
		Short: "Support lookup: every notice sent to a person, and what happened to it",
		Long: `Answer "did you send me something, to which address, did it arrive?": find a
person by e-mail, phone (E.164, e.g. +4791234567) or external id in every
campaign, and show each delivery and its events. When nothing matches
exactly, the query is searched as a name: without case or accents
("bjorn odegard" finds Bjørn Ødegård), in any word order ("Ødegård, Bjørn"),
or by the start of the surname; a common name shows the best --limit
matches and how many there are. Quote a name of several words. Every
lookup is audited.`,
		Args: exactArgs(1, "give an e-mail address, phone number, external id or a name (quoted)"),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			st, err := a.store(ctx)
			if err != nil {
				return err
			}
			q := strings.TrimSpace(args[0])
			if limit <= 0 || limit > 100 {
				return usageError{fmt.Errorf("--limit %d: give a number from 1 to 100", limit)}
			}
			contacts, err := dispatcher.FindContactsExact(ctx, st, q, region)
			if err != nil {
				return err
			}
			detail := fmt.Sprintf("%d contacts shown", len(contacts))
			var byName *dispatcher.NameMatches
			if len(contacts) == 0 && dispatcher.IsNameQuery(q) {
				nq, err := dispatcher.ParseNameQuery(q)
				if err != nil {
					return err
				}
				m, err := st.FindContactsByName(ctx, nq, limit)
				if err != nil {
					return err
				}
				byName, contacts = &m, m.Contacts
				detail = fmt.Sprintf("name search, %d%s matched: %d contacts shown", m.Total, orMore(m.More), len(contacts))
			}
			_ = st.Audit(ctx, dispatcher.AuditEntry{At: time.Now(), Actor: a.actor(), Action: "contact.lookup", Subject: q, Detail: detail})
			if len(contacts) == 0 {
				if byName != nil {
					return dispatcher.Errorf(dispatcher.ENOTFOUND, "no one named %q in any campaign: try the surname alone, or the e-mail address or phone number", q)
				}
				return dispatcher.Errorf(dispatcher.ENOTFOUND, "no contact matches %q in any campaign (phone numbers are stored in E.164, e.g. +4791234567)", q)
			}
			if byName != nil && (byName.More || byName.Total > len(contacts)) && format != "json" {
				fmt.Fprintf(a.stdout, "%d%s people match %q; the best %d follow. Give more of the name, or search by e-mail, phone or id.\n\n",
					byName.Total, orMore(byName.More), q, len(contacts))
			}
			var results []lookupResult
			names := map[int64]string{}
			for _, ct := range contacts {
				if _, ok := names[ct.CampaignID]; !ok {
					c, err := st.Campaign(ctx, ct.CampaignID)
					if err != nil {
						return err
					}
					names[ct.CampaignID] = c.Name
				}
				r := lookupResult{Campaign: names[ct.CampaignID], Contact: contactView{ct.ExternalID, ct.Name, ct.Email, ct.Phone, ct.Locale, ct.Country}}
				ds, err := st.DeliveriesOf(ctx, ct.ID)
				if err != nil {
					return err
				}
				for _, d := range ds {
					evs, err := st.Events(ctx, d.ID)
					if err != nil {
						return err
					}
					dv := deliveryView{Channel: string(d.Channel), State: string(d.State), Address: d.Address, ProviderID: d.ProviderID}
					for _, e := range evs {
						dv.Events = append(dv.Events, eventView{e.At, string(e.State), e.ProviderID, e.Code, e.Diagnostic})
					}
					r.Deliveries = append(r.Deliveries, dv)
				}
				results = append(results, r)
			}
			if format == "json" {
				enc := json.NewEncoder(a.stdout)
				enc.SetIndent("", "  ")
				return enc.Encode(results)
			}
			for i, r := range results {
				if i > 0 {
					fmt.Fprintln(a.stdout)
				}
				c := r.Contact
				fmt.Fprintf(a.stdout, "%s — campaign %s\n", c.Name, r.Campaign)
				fmt.Fprintf(a.stdout, "  id %s  e-mail %s  phone %s  locale %s  country %s\n", dash(c.ExternalID), dash(c.Email), dash(c.Phone), dash(c.Locale), dash(c.Country))
				for _, d := range r.Deliveries {
					fmt.Fprintf(a.stdout, "  %s to %s: %s\n", d.Channel, dash(d.Address), d.State)
					for _, e := range d.Events {
						line := fmt.Sprintf("    %s  %-12s", e.At.Local().Format("2006-01-02 15:04:05"), e.State)
						if e.Code != "" {
							line += "  " + e.Code
						}
						if e.ProviderID != "" {
							line += "  id " + e.ProviderID
						}
						if e.Diagnostic != "" {
							line += "  " + e.Diagnostic
						}
						fmt.Fprintln(a.stdout, line)
					}
				}
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&format, "format", "text", "text or json")
	cmd.Flags().IntVar(&limit, "limit", 10, "the most people a name search shows")
	cmd.Flags().StringVar(&region, "region", "", "country (e.g. NO) for a phone number given without +country code")
	return cmd
}

func orMore(more bool) string {
	if more {
		return " or more"
	}
	return ""
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
