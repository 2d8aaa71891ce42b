package bounce

import "testing"

func TestClassify(t *testing.T) {
	tests := []struct {
		name               string
		status, code, diag string
		want               string
	}{
		// Invalid: addressing statuses.
		{"5.1.1 alone", "5.1.1", "", "", ClassInvalid},
		{"5.1.2 bad domain", "5.1.2", "550", "", ClassInvalid},
		{"5.1.3 bad syntax", "5.1.3", "553", "", ClassInvalid},
		{"5.1.6 moved", "5.1.6", "551", "", ClassInvalid},
		{"5.1.10 null MX", "5.1.10", "556", "", ClassInvalid},
		{"status in diagnostic only", "", "", "550 5.1.1 <kari@example.no>: Recipient address rejected: example.no", ClassInvalid},
		{"4.1.1 alone is a lookup that failed", "4.1.1", "450", "", ClassSoft},
		{"postfix unverified address timeout", "4.1.1", "450", "450 4.1.1 <kari@example.no>: Recipient address rejected: unverified address: connect to mx.example.no[192.0.2.1]:25: Connection timed out", ClassSoft},

		// Invalid: words, whatever the code.
		{"user unknown behind 5.0.0", "5.0.0", "550", "550 5.0.0 <ola@example.no>: user unknown", ClassInvalid},
		{"user unknown behind 4.4.7 after retries", "4.4.7", "450", "450 4.1.1 <ola@example.no>: Recipient address rejected: User unknown in local recipient table", ClassInvalid},
		{"no such user behind 5.7.1 (Yandex)", "5.7.1", "550", "550 5.7.1 No such user!", ClassInvalid},
		{"gmail does not exist", "5.1.1", "550", "550-5.1.1 The email account that you tried to reach does not exist. Please try double-checking the recipient's email address for typos or unnecessary spaces. Learn more at https://support.google.com/mail/?p=NoSuchUser - gsmtp", ClassInvalid},
		{"gmail disabled", "5.2.1", "550", "550-5.2.1 The email account that you tried to reach is disabled.", ClassInvalid},
		{"yahoo no account", "", "554", "554 delivery error: dd This user doesn't have a yahoo.com account (kari@yahoo.com) [0] - mta1.mail.yahoo.com", ClassInvalid},
		{"yahoo mailbox not found behind 552", "", "552", "552 1 Requested mail action aborted, mailbox not found", ClassInvalid},
		{"account has been disabled", "5.0.0", "554", "554 This account has been disabled or discontinued [#102].", ClassInvalid},
		{"exchange token", "5.1.10", "550", "550 5.1.10 RESOLVER.ADR.RecipientNotFound; Recipient not found by SMTP address lookup", ClassInvalid},
		{"exchange DBEB access denied", "5.4.1", "550", "550 5.4.1 Recipient address rejected: Access denied. AS(201806281)", ClassInvalid},
		{"domino", "5.0.0", "", "User Kari Nordmann (kari@example.no) not listed in Domino Directory", ClassInvalid},
		{"postfix NXDOMAIN", "5.4.4", "", "Host or domain name not found. Name service error for name=example.invalid type=MX: Host not found", ClassInvalid},
		{"exim unrouteable", "5.0.0", "", "Unrouteable address", ClassInvalid},
		{"qmail no mailbox", "", "", "Sorry, no mailbox here by that name. (#5.1.1)", ClassInvalid},
		{"mailbox unavailable, permanent", "", "550", "550 Requested action not taken: mailbox unavailable", ClassInvalid},
		{"outlook.com mailbox unavailable behind 5.5.0", "5.5.0", "550", "550 5.5.0 Requested action not taken: mailbox unavailable (S2017062302).", ClassInvalid},
		{"host name with a policy word is not evidence", "", "", "host spamfilter.example.org[192.0.2.7] said: 550 <kari@example.no>: Recipient address rejected: undeliverable", ClassInvalid},
		{"norwegian", "", "550", "550 Brukeren finnes ikke", ClassInvalid},
		{"norwegian unknown recipient", "", "", "Ukjent mottaker", ClassInvalid},
		{"dutch", "", "550", "550 5.1.1 Onbekende gebruiker", ClassInvalid},
		{"german with umlaut", "", "550", "550 5.1.1 Empfänger unbekannt", ClassInvalid},
		{"german does not exist", "", "550", "550 Die E-Mail-Adresse existiert nicht", ClassInvalid},
		{"french", "", "550", "550 Utilisateur inconnu", ClassInvalid},
		{"french n'existe pas", "", "550", "550 5.1.1 L'adresse n’existe pas", ClassInvalid},
		{"spanish", "", "550", "550 El usuario no existe", ClassInvalid},
		{"russian", "", "550", "550 Пользователь не найден", ClassInvalid},
		{"address in brackets between the words", "5.0.0", "550", "550 Recipient <kari@example.no> does not exist here", ClassInvalid},
		{"551 user not local", "", "551", "551 User not local; please try <kari@new.example>", ClassInvalid},
		{"5.1.1 and a policy word: two statements win", "5.1.1", "550", "550 5.1.1 <kari@example.no>: Recipient address rejected: User unknown (see our spam policy)", ClassInvalid},

		// Soft.
		{"mailbox full 5.2.2", "5.2.2", "552", "552 5.2.2 Mailbox full", ClassSoft},
		{"mailbox full 4.2.2", "4.2.2", "452", "452 4.2.2 The email account that you tried to reach is over quota.", ClassSoft},
		{"full beats unknown", "5.0.0", "550", "550 user unknown or mailbox full", ClassSoft},
		{"quota without status", "", "", "Quota exceeded (mailbox for user is full)", ClassSoft},
		{"norwegian full", "", "552", "552 Postkassen er full", ClassSoft},
		{"french full", "", "552", "552 Boîte aux lettres pleine", ClassSoft},
		{"expired without user unknown", "4.4.7", "", "Message expired: unable to deliver in 840 minutes.<421 4.4.0 Unable to lookup DNS for example.no>", ClassSoft},
		{"connection timed out", "4.4.1", "", "connect to mx.example.no[192.0.2.1]:25: Connection timed out", ClassSoft},
		{"temporary DNS", "4.4.3", "", "Host or domain name not found. Name service error for name=example.no type=MX: Host not found, try again", ClassSoft},
		{"greylisted 4.7.1", "4.7.1", "450", "450 4.7.1 <kari@example.no>: Recipient address rejected: Greylisted, see http://postgrey.schweikert.ch/help/example.no.html", ClassSoft},
		{"greylisting 450 no status", "", "450", "450 Greylisting in action, please come back later", ClassSoft},
		{"try again later", "", "451", "451 Temporary local problem - please try again later", ClassSoft},
		{"mailbox unavailable, temporary", "", "450", "450 Requested action not taken: mailbox unavailable", ClassSoft},
		{"suspended", "5.2.1", "550", "550 5.2.1 Mailbox unavailable, account suspended", ClassSoft},
		{"no evidence at all", "", "", "", ClassSoft},
		{"bare 550", "", "550", "550", ClassSoft},
		{"generic 5.0.0", "5.0.0", "550", "550 Message not delivered", ClassSoft},
		{"receiving at a rate", "4.2.1", "450", "450-4.2.1 The user you are trying to contact is receiving mail at a rate that prevents additional messages from being delivered.", ClassSoft},

		// Policy.
		{"spamhaus", "5.7.1", "554", "554 5.7.1 Service unavailable; Client host [192.0.2.1] blocked using zen.spamhaus.org", ClassPolicy},
		{"mailbox unavailable with policy words", "5.7.1", "550", "550 5.7.1 Mailbox unavailable. Your IP address 192.0.2.1 is blacklisted", ClassPolicy},
		{"mailbox unavailable behind 5.7.1", "5.7.1", "550", "550 5.7.1 Requested action not taken: mailbox unavailable", ClassPolicy},
		{"5.1.1 that talks only about spam", "5.1.1", "550", "550 5.1.1 Message rejected as spam", ClassPolicy},
		{"policy words beat user unknown without an addressing status", "5.0.0", "550", "550 user unknown - your IP is on our block list", ClassPolicy},
		{"relaying denied", "5.7.1", "554", "554 5.7.1 <kari@example.no>: Relay access denied", ClassPolicy},
		{"relay without status", "", "550", "550 Unable to relay for kari@example.no", ClassPolicy},
		{"gmail unauthenticated", "5.7.26", "550", "550-5.7.26 This mail has been blocked because the sender is unauthenticated. Gmail requires all senders to authenticate with either SPF or DKIM.", ClassPolicy},
		{"dmarc", "5.7.509", "550", "550 5.7.509 Access denied, sending domain example.org does not pass DMARC verification", ClassPolicy},
		{"content", "5.7.1", "554", "554 5.7.1 Message rejected due to content restrictions", ClassPolicy},
		{"access denied", "5.7.1", "550", "550 5.7.1 <kari@example.no>: Recipient address rejected: Access denied", ClassPolicy},
		{"rate limited", "4.7.650", "451", "451 4.7.650 The mail server [192.0.2.1] has been temporarily rate limited due to IP reputation.", ClassPolicy},
		{"yahoo complaints", "4.7.0", "421", "421 4.7.0 [TSS04] Messages from 192.0.2.1 temporarily deferred due to unexpected volume or user complaints", ClassPolicy},
		{"reputation", "", "554", "554 Your access to this mail system has been rejected due to the sending MTA's poor reputation.", ClassPolicy},
		{"security status alone", "5.7.1", "550", "", ClassPolicy},
		{"554 alone", "", "554", "554 Transaction failed", ClassPolicy},
		{"message too big", "5.3.4", "552", "552 5.3.4 Message size exceeds fixed limit", ClassPolicy},
		{"sender address rejected", "5.1.0", "550", "550 5.1.0 <varsel@example.org>: Sender address rejected: Domain not found", ClassPolicy},
		{"sender status", "5.1.8", "553", "553 5.1.8 Domain of sender address varsel@example.org does not exist", ClassPolicy},
		{"helo host not found", "", "450", "450 4.7.1 <mta1.example.org>: Helo command rejected: Host not found", ClassPolicy},
		{"client host rejected", "5.7.1", "550", "550 5.7.1 Client host rejected: cannot find your reverse hostname, [192.0.2.1]", ClassPolicy},
		{"our sending quota", "5.4.5", "550", "550 5.4.5 Daily user sending quota exceeded.", ClassPolicy},
		{"orange service refused", "5.7.1", "550", "550 5.7.1 Service refuse. Veuillez essayer plus tard. Service refused, please try later. OFR006_104 [104]", ClassPolicy},

		// Not failures.
		{"success", "2.0.0", "250", "250 2.0.0 Ok: queued as 12345", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, rule := decide(tt.status, tt.code, tt.diag)
			if got != tt.want {
				t.Errorf("Classify(%q, %q, %q) = %q by rule %q, want %q", tt.status, tt.code, tt.diag, got, rule, tt.want)
			}
			if c := Classify(tt.status, tt.code, tt.diag); c != got {
				t.Errorf("Classify = %q, decide = %q", c, got)
			}
		})
	}
}

func TestParseStatusAndCode(t *testing.T) {
	statuses := []struct {
		in   string
		want string
	}{
		{"5.1.1", "5.1.1"},
		{" 5.1.10 (bad destination mailbox address)", "5.1.10"},
		{"4.4.7", "4.4.7"},
		{"#5.1.1", "5.1.1"},
		{"5.1", ""},
		{"6.1.1", ""},
		{"5.1.1000", ""},
		{"192.0.2.1", ""},
		{"", ""},
	}
	for _, tt := range statuses {
		if got := parseStatus(tt.in).String(); got != tt.want {
			t.Errorf("parseStatus(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
	found := []struct {
		in   string
		want string
	}{
		{"host mx[192.0.2.15] said: 550 5.1.1 <a@b>: unknown", "5.1.1"},
		{"Sorry, no mailbox here by that name. (#5.1.1)", "5.1.1"},
		{"<mx.example.org #5.1.1 smtp;550 5.1.1 User unknown>", "5.1.1"},
		{"server 10.5.1.1 said no", ""},
		{"Postfix 3.5.1 is here", ""},
		{"Exchange 15.20.776 said", ""},
	}
	for _, tt := range found {
		st, _ := firstStatus(tt.in)
		if got := st.String(); got != tt.want {
			t.Errorf("firstStatus(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
	codes := []struct {
		in   string
		want int
	}{
		{"smtp; 550 5.1.1 user unknown", 550},
		{"550-5.1.1 The email account", 550},
		{"#550 5.1.1 RESOLVER.ADR.RecipNotFound; not found ##", 550},
		{"X-Postfix; Host or domain name not found", 0},
		{"5500 things", 0},
		{"250 ok", 250},
	}
	for _, tt := range codes {
		if got := leadingCode(tt.in); got != tt.want {
			t.Errorf("leadingCode(%q) = %d, want %d", tt.in, got, tt.want)
		}
	}
}
