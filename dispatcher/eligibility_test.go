package dispatcher

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

var eligibilityAt = time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)

// letterAddress is a complete postal address.
var letterAddress = PostalAddress{Line1: "1 Main Street", PostalCode: "90210", City: "Beverly Hills", Region: "CA"}

func TestIneligible(t *testing.T) {
	consent := Settings{ConsentRequired: true}
	tests := []struct {
		name string
		s    Settings
		c    Contact
		k    ChannelKind
		want string
	}{
		{"no rules", Settings{}, Contact{Email: "a@example.com"}, Email, ""},
		{"consent required, none recorded", consent, Contact{Email: "a@example.com"}, Email, ReasonNoConsent},
		{"consent required, refused", consent, Contact{Email: "a@example.com", EmailConsent: ConsentNo}, Email, ReasonNoConsent},
		{"consent required, given", consent, Contact{Email: "a@example.com", EmailConsent: ConsentYes}, Email, ""},
		{"consent is asked of e-mail only", consent, Contact{Phone: "+12015550123"}, SMS, ""},
		{"consent does not touch letters", consent, Contact{Postal: letterAddress}, Postal, ""},
		{"refusal without the rule does not block", Settings{}, Contact{Email: "a@example.com", EmailConsent: ConsentNo}, Email, ""},
		{"compromised mailbox", Settings{}, Contact{Email: "a@example.com", DoNotEmail: true, EmailConsent: ConsentYes}, Email, ReasonMailboxCompromise},
		{"compromised mailbox, other channel", Settings{}, Contact{Phone: "+12015550123", DoNotEmail: true}, SMS, ""},
		{"dry run follows e-mail", consent, Contact{Email: "a@example.com"}, File, ReasonNoConsent},
		{"dry run to a phone number", consent, Contact{Phone: "+12015550123"}, File, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Ineligible(tt.s, &tt.c, tt.k); got != tt.want {
				t.Errorf("Ineligible = %q, want %q", got, tt.want)
			}
		})
	}
}

// TestPlanEligibility: the acceptance rule "a contact without e-mail
// consent under a consent-required campaign goes to SMS or postal, never
// e-mail", and the all-channels mode.
func TestPlanEligibility(t *testing.T) {
	policy := Policy{Email, SMS, Postal}
	type want struct {
		k     ChannelKind
		state State
		diag  string
	}
	tests := []struct {
		name string
		s    Settings
		c    Contact
		want []want
	}{
		{"consent required, no consent: SMS", Settings{ConsentRequired: true},
			Contact{Email: "a@example.com", Phone: "+12015550123", Postal: letterAddress},
			[]want{{Email, StateSkipped, ReasonNoConsent}, {SMS, StatePending, ""}}},
		{"consent required, no consent, no phone: a letter", Settings{ConsentRequired: true},
			Contact{Email: "a@example.com", Postal: letterAddress},
			[]want{{Email, StateSkipped, ReasonNoConsent}, {SMS, StateSkipped, "no valid mobile number on record"}, {Postal, StatePending, ""}}},
		{"consent required, no consent, nothing else: unreachable", Settings{ConsentRequired: true},
			Contact{Email: "a@example.com", Postal: PostalAddress{Line1: "1 Main Street"}},
			[]want{{Email, StateSkipped, ReasonNoConsent}, {SMS, StateSkipped, "no valid mobile number on record"}, {Postal, StateSkipped, "no valid postal address on record"}}},
		{"consent given: e-mail", Settings{ConsentRequired: true},
			Contact{Email: "a@example.com", EmailConsent: ConsentYes, Phone: "+12015550123"},
			[]want{{Email, StatePending, ""}}},
		{"no rule: e-mail", Settings{},
			Contact{Email: "a@example.com", Phone: "+12015550123"},
			[]want{{Email, StatePending, ""}}},
		{"compromised mailbox: SMS", Settings{},
			Contact{Email: "a@example.com", DoNotEmail: true, Phone: "+12015550123"},
			[]want{{Email, StateSkipped, ReasonMailboxCompromise}, {SMS, StatePending, ""}}},
		{"all channels: every usable one at once", Settings{AllChannels: true},
			Contact{Email: "a@example.com", Phone: "+12015550123", Postal: letterAddress},
			[]want{{Email, StatePending, ""}, {SMS, StatePending, ""}, {Postal, StatePending, ""}}},
		{"all channels with consent required", Settings{AllChannels: true, ConsentRequired: true},
			Contact{Email: "a@example.com", Postal: letterAddress},
			[]want{{Email, StateSkipped, ReasonNoConsent}, {SMS, StateSkipped, "no valid mobile number on record"}, {Postal, StatePending, ""}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := &Campaign{Policy: policy, Settings: tt.s}
			ds := PlanFor(c, &tt.c, eligibilityAt)
			if len(ds) != len(tt.want) {
				t.Fatalf("planned %+v, want %+v", ds, tt.want)
			}
			for i, d := range ds {
				w := tt.want[i]
				if d.Channel != w.k || d.State != w.state || d.Diagnostic != w.diag || d.Seq != policy.Index(d.Channel) {
					t.Errorf("delivery %d = %s %s %q (seq %d), want %s %s %q", i, d.Channel, d.State, d.Diagnostic, d.Seq, w.k, w.state, w.diag)
				}
				if d.State == StatePending && d.Address != tt.c.Address(d.Channel) {
					t.Errorf("delivery %d address %q, want %q", i, d.Address, tt.c.Address(d.Channel))
				}
				if d.Channel == Email && d.State == StatePending && tt.s.ConsentRequired && tt.c.EmailConsent != ConsentYes {
					t.Errorf("planned an e-mail to a contact without consent")
				}
			}
		})
	}
}

func TestPlanNext(t *testing.T) {
	ct := &Contact{Email: "a@example.com", Phone: "+12015550123", Postal: letterAddress}
	done := map[ChannelKind]bool{Email: true}
	c := &Campaign{Policy: Policy{Email, SMS, Postal}}
	if ds := PlanNext(c, ct, 1, done, eligibilityAt); len(ds) != 1 || ds[0].Channel != SMS || ds[0].State != StatePending {
		t.Errorf("fallback after e-mail = %+v, want a pending SMS", ds)
	}
	done[SMS] = true
	if ds := PlanNext(c, ct, 2, done, eligibilityAt); len(ds) != 1 || ds[0].Channel != Postal || ds[0].Address != "1 Main Street, 90210 Beverly Hills, CA" {
		t.Errorf("fallback after SMS = %+v, want a pending letter", ds)
	}
	c.Settings.AllChannels = true
	if ds := PlanNext(c, ct, 1, map[ChannelKind]bool{Email: true}, eligibilityAt); ds != nil {
		t.Errorf("all-channels fallback planned %+v, want nothing: every channel was planned at import", ds)
	}
	// PlanFrom keeps its old behaviour, and honours do-not-e-mail.
	if ds := PlanFrom(Policy{Email, SMS}, &Contact{Email: "a@example.com", Phone: "+12015550123"}, 0, nil, eligibilityAt); len(ds) != 1 || ds[0].Channel != Email {
		t.Errorf("PlanFrom = %+v", ds)
	}
	if ds := PlanFrom(Policy{Email, SMS}, &Contact{Email: "a@example.com", DoNotEmail: true}, 0, nil, eligibilityAt); len(ds) != 2 || ds[0].Diagnostic != ReasonMailboxCompromise || ds[1].State != StateSkipped {
		t.Errorf("PlanFrom with do-not-e-mail = %+v", ds)
	}
}

func TestPostalAddress(t *testing.T) {
	tests := []struct {
		p        PostalAddress
		country  string
		complete bool
		line     string
	}{
		{PostalAddress{Line1: "Storgata  1", PostalCode: "0155", City: "Oslo"}, "NO", true, "Storgata 1, 0155 Oslo, NO"},
		{PostalAddress{Line1: "1 Main St", Line2: "Apt 4", City: "Springfield", Region: "IL"}, "US", true, "1 Main St, Apt 4, Springfield, IL, US"},
		{PostalAddress{Line1: "Postboks 7", PostalCode: "9990"}, "", true, "Postboks 7, 9990"},
		{PostalAddress{Line1: "Storgata 1"}, "NO", false, "Storgata 1, NO"},
		{PostalAddress{PostalCode: "0155", City: "Oslo"}, "NO", false, "0155 Oslo, NO"},
		{PostalAddress{}, "", false, ""},
	}
	for _, tt := range tests {
		if got := tt.p.Complete(); got != tt.complete {
			t.Errorf("%+v Complete = %v", tt.p, got)
		}
		if got := tt.p.Line(tt.country); got != tt.line {
			t.Errorf("%+v Line = %q, want %q", tt.p, got, tt.line)
		}
		ct := Contact{Postal: tt.p, Country: tt.country}
		if got, want := ct.Address(Postal), map[bool]string{true: tt.line}[tt.complete]; got != want {
			t.Errorf("Address(postal) = %q, want %q", got, want)
		}
	}
}

func TestParseYesNo(t *testing.T) {
	for in, want := range map[string][2]bool{
		"yes": {true, true}, " JA ": {true, true}, "j": {true, true}, "1": {true, true}, "x": {true, true}, "True": {true, true},
		"no": {false, true}, "Nei": {false, true}, "nej": {false, true}, "nee": {false, true}, "NEIN": {false, true}, "0": {false, true},
		"": {false, false}, "maybe": {false, false}, "yes please": {false, false}, "2": {false, false},
	} {
		yes, ok := ParseYesNo(in)
		if yes != want[0] || ok != want[1] {
			t.Errorf("ParseYesNo(%q) = %v, %v; want %v, %v", in, yes, ok, want[0], want[1])
		}
	}
}

// FuzzParseYesNo: any cell, in any case and spacing, is read the same way
// and never both unreadable and yes.
func FuzzParseYesNo(f *testing.F) {
	for _, s := range []string{"yes", "Nei", "✓", "sí", "", "x", "\xff", "ja\x00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		yes, ok := ParseYesNo(s)
		if !ok && yes {
			t.Fatalf("ParseYesNo(%q) = yes but not ok", s)
		}
		if yes2, ok2 := ParseYesNo(" \t" + s + " "); yes2 != yes || ok2 != ok {
			t.Fatalf("ParseYesNo(%q) = %v,%v but with spaces %v,%v", s, yes, ok, yes2, ok2)
		}
	})
}

// TestImportEligibilityColumns reads consent, do-not-e-mail and the postal
// address from headers as people write them.
func TestImportEligibilityColumns(t *testing.T) {
	tests := []struct {
		name   string
		header string
		row    string
		want   Contact
	}{
		{name: "english", header: "name,email,email_consent,do_not_email,address,address2,zip,city,state,country",
			row: "Amelia Jones,amelia@example.com,yes,no,1 Main Street,Apt 2,90210,Beverly Hills,CA,US",
			want: Contact{Name: "Amelia Jones", Email: "amelia@example.com", EmailConsent: ConsentYes, Country: "US",
				Postal: PostalAddress{Line1: "1 Main Street", Line2: "Apt 2", PostalCode: "90210", City: "Beverly Hills", Region: "CA"}}},
		{name: "norwegian", header: "navn;e-post;samtykke_epost;ikke_epost;adresse;postnummer;poststed;fylke;land",
			row: "Kari Nordmann;kari@example.no;nei;ja;Storgata  1;0155;Oslo;Oslo;NO",
			want: Contact{Name: "Kari Nordmann", Email: "kari@example.no", EmailConsent: ConsentNo, DoNotEmail: true, Country: "NO",
				Postal: PostalAddress{Line1: "Storgata 1", PostalCode: "0155", City: "Oslo", Region: "Oslo"}}},
		{name: "dutch", header: "naam;e-mailadres;toestemming_email;straat;postcode;woonplaats;provincie",
			row: "Marijke Dijkstra;marijke@example.nl;ja;Dorpsstraat 5;1234 AB;Utrecht;Utrecht",
			want: Contact{Name: "Marijke Dijkstra", Email: "marijke@example.nl", EmailConsent: ConsentYes,
				Postal: PostalAddress{Line1: "Dorpsstraat 5", PostalCode: "1234 AB", City: "Utrecht", Region: "Utrecht"}}},
		{name: "german", header: "Name;E-Mail;Einwilligung;keine_email;Straße;PLZ;Ort;Bundesland",
			row: "Jürgen Müller;juergen@example.de;nein;x;Hauptstraße 3;10115;Berlin;Berlin",
			want: Contact{Name: "Jürgen Müller", Email: "juergen@example.de", EmailConsent: ConsentNo, DoNotEmail: true,
				Postal: PostalAddress{Line1: "Hauptstraße 3", PostalCode: "10115", City: "Berlin", Region: "Berlin"}}},
		{name: "letter only", header: "patient_id,name,address_line_1,postal_code,city,state,country",
			row: "MRN-1,Ann Lee,5 Elm Road,02139,Cambridge,MA,US",
			want: Contact{ExternalID: "MRN-1", Name: "Ann Lee", Country: "US",
				Postal: PostalAddress{Line1: "5 Elm Road", PostalCode: "02139", City: "Cambridge", Region: "MA"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := newImportTestStore(CampaignDraft)
			run, err := importTest(t, st, []byte(tt.header+"\n"+tt.row+"\n"), ImportOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if run.Accepted != 1 || run.Warnings != 0 {
				t.Fatalf("run %+v, rejects %+v: want one clean row", run, st.rejects)
			}
			tt.want.SourceRow = 2
			if got := importTestStrip(st.contacts)[0]; !equalContact(got, tt.want) {
				t.Errorf("contact\n got %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func equalContact(a, b Contact) bool {
	return a.ExternalID == b.ExternalID && a.Name == b.Name && a.Email == b.Email && a.Phone == b.Phone &&
		a.Country == b.Country && a.Locale == b.Locale && a.EmailConsent == b.EmailConsent && a.DoNotEmail == b.DoNotEmail &&
		a.Postal == b.Postal && len(a.Attrs) == len(b.Attrs) && a.SourceRow == b.SourceRow
}

// TestImportEligibilityProblems: unreadable flags are taken the safe way,
// with a warning naming the row; a row with neither e-mail, phone nor a
// complete address is rejected.
func TestImportEligibilityProblems(t *testing.T) {
	in := "id,name,email,phone,consent,do_not_email,address,zip,city,country\n" +
		"1,Ann,ann@example.com,,maybe,,1 Main St,90210,LA,US\n" + // row 2: consent unreadable
		"2,Bob,bob@example.com,,yes,perhaps,2 Main St,90210,LA,US\n" + // row 3: do-not-email unreadable
		"3,Cy,,+12015550123,,,3 Main St,,,US\n" + // row 4: address incomplete
		"4,Di,,,,,4 Main St,90210,,US\n" + // row 5: letter only
		"5,Ed,,,,,5 Main St,,,US\n" // row 6: nothing usable
	st := newImportTestStore(CampaignDraft)
	st.campaign.Policy = Policy{Email, SMS, Postal}
	st.campaign.Settings.ConsentRequired = true
	var report bytes.Buffer
	run, err := importTest(t, st, []byte(in), ImportOptions{Rejects: &report})
	if err != nil {
		t.Fatal(err)
	}
	if run.Accepted != 4 || run.Rejected != 1 || run.Warnings != 3 {
		t.Errorf("run %+v, want 4 accepted, 1 rejected, 3 with warnings\n%s", run, report.String())
	}
	byID := st.byExternalID()
	if c := byID["1"]; c.EmailConsent != ConsentUnknown {
		t.Errorf("unreadable consent imported as %q", c.EmailConsent)
	}
	if c := byID["2"]; !c.DoNotEmail || c.EmailConsent != ConsentYes {
		t.Errorf("unreadable do-not-e-mail imported as %v", c.DoNotEmail)
	}
	if c := byID["3"]; c.Postal.Complete() || c.Postal.Line1 != "3 Main St" {
		t.Errorf("incomplete address = %+v", c.Postal)
	}
	if c := byID["4"]; !c.Postal.Complete() || c.Email != "" || c.Phone != "" {
		t.Errorf("letter-only contact = %+v", c)
	}
	for _, w := range []string{"2,consent,maybe,warning,\"consent to e-mail is not yes or no",
		"3,do_not_email,perhaps,warning,\"do-not-e-mail is not yes or no; imported as do not e-mail",
		"4,address,3 Main St,warning,\"the postal address has no postal code or city",
		"6,email,,error,\"no e-mail address, phone number or complete postal address"} {
		if !strings.Contains(report.String(), w) {
			t.Errorf("reject report lacks %q:\n%s", w, report.String())
		}
	}
	// The plans follow the campaign: nobody without consent is e-mailed;
	// the letter-only contact gets a pending letter.
	for _, d := range st.deliveries {
		c := st.contacts[0]
		for _, x := range st.contacts {
			if x.ID == d.ContactID {
				c = x
			}
		}
		if d.Channel == Email && d.State == StatePending && c.EmailConsent != ConsentYes {
			t.Errorf("e-mail planned for %s without consent", c.ExternalID)
		}
		if c.ExternalID == "2" && d.Channel == Email && d.Diagnostic != ReasonMailboxCompromise {
			t.Errorf("do-not-e-mail contact's e-mail delivery = %+v", d)
		}
		if c.ExternalID == "4" && d.Channel == Postal && d.State != StatePending {
			t.Errorf("letter-only contact's letter = %+v", d)
		}
	}
}
