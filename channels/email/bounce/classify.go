package bounce

import (
	"regexp"
	"strconv"
	"strings"
	"unicode"

	"golang.org/x/text/runes"
	"golang.org/x/text/transform"
	"golang.org/x/text/unicode/norm"
)

// Classes of a failed delivery, as Classify returns them and as they appear
// in Recipient.Class. They map onto dispatcher.Invalid, dispatcher.Transient
// and dispatcher.Permanent.
const (
	// ClassInvalid: the mailbox or its domain does not exist (any more).
	// Only this class marks a contact's address as bad, so it is given only
	// on evidence: an addressing status (x.1.1, x.1.2, x.1.3, x.1.6,
	// x.1.10) or words that say the mailbox or domain does not exist.
	ClassInvalid = "invalid"
	// ClassSoft: the mailbox exists or may exist but cannot take the
	// message now (full, over quota, greylisting, timeouts, expired in a
	// queue), or the failure gives no reason at all.
	ClassSoft = "soft"
	// ClassPolicy: the receiver refused us, not the person: spam filters,
	// block lists, reputation, rate limits, SPF/DKIM/DMARC, relaying,
	// content, message size. Never the contact's fault, never hard.
	ClassPolicy = "policy"
)

// Classify says what a delivery failure means for the recipient's address:
// ClassInvalid, ClassSoft or ClassPolicy. status is the RFC 3463 enhanced
// status ("5.1.1"), replyCode the SMTP reply code ("550"), diagnostic the
// receiving server's words; any may be empty. A reply code at the start of
// diagnostic, and the first failure status anywhere in it, are used when
// the arguments lack one, or when status is only a generic x.0.0. A
// success (2.x.x or 2xx) classifies as "". Words are matched with case and
// accents folded, after URLs, addresses and host names are taken out: a
// relay called spamfilter.example.org is no evidence of a spam block.
//
// It serves the asynchronous path (Parse calls it for every failed
// recipient of a bounce), the synchronous SMTP path and provider webhooks
// alike, so that one set of rules decides when herald blames an address.
//
// The rules, in order; the first that applies decides:
//
//  1. Microsoft's Directory Based Edge Blocking ("5.4.1 Recipient address
//     rejected: Access denied") is invalid: Exchange Online says it only
//     for recipients that do not exist in the tenant.
//  2. Anything about our side of the conversation is policy: a sender
//     status (x.1.7, x.1.8), "sender address rejected", "client host
//     rejected", HELO and reverse-DNS complaints, our sending quota.
//  3. A full mailbox (x.2.2, "mailbox full", "over quota" and their
//     translations) is soft, even next to words that say the mailbox does
//     not exist: a server that cannot make up its mind does not get the
//     address marked.
//  4. Words saying the mailbox or domain does not exist ("user unknown",
//     "no such user", "mailbox not found", "does not exist", "account has
//     been disabled", "Domain not found", "Unrouteable address" and their
//     translations) make it invalid whatever the code: behind a 4xx (a
//     temporary reply repeated until the message expired), behind a
//     generic x.0.0 or a 5.7.x. When policy words appear as well (spam,
//     blocked, block list, reputation, rate limit, SPF/DKIM/DMARC,
//     relaying, content) the result is invalid only if the status is an
//     addressing one (x.1.1, x.1.2, x.1.3, x.1.6, x.1.10) too; otherwise
//     policy. Two independent statements that the mailbox does not exist
//     outweigh a policy word, which is then usually boilerplate; one
//     statement does not.
//  5. Policy words make it policy: they beat a generic 5.0.0 or 550 and a
//     bare addressing status (a 5.1.1 that talks only about spam is read as
//     a block).
//  6. An addressing status (x.1.1, x.1.2, x.1.3, x.1.6, x.1.10) is invalid
//     when permanent (5.x.x) and soft when temporary (4.x.x): Postfix's
//     "450 4.1.1 unverified address" is a lookup that timed out.
//  7. Weaker words that usually, but not always, mean a missing mailbox
//     ("mailbox unavailable", "invalid recipient", "recipient address
//     rejected") are invalid behind a permanent failure, soft behind a
//     temporary one or next to greylisting, "try again" or suspension
//     words, and policy behind a permanent security status (5.7.x):
//     Exchange answers "550 5.7.1 mailbox unavailable" to senders it does
//     not trust.
//  8. Greylisting, "try again later", timeouts, refused connections,
//     expiry, deferral and suspension words are soft.
//  9. Otherwise the status decides: x.7.x (security), x.5.x (protocol),
//     x.6.x (content), x.3.4 and x.2.3 (too big) are policy; the rest soft.
//  10. Without a usable status the reply code decides: 554 (transaction
//     failed, in practice a block) is policy, 551 (user not local) is
//     invalid; any other failure is soft, because nothing says the address
//     is bad.
func Classify(status, replyCode, diagnostic string) string {
	c, _ := decide(status, replyCode, diagnostic)
	return c
}

// decide is Classify with the name of the rule that decided, for tests
// and for Parse, which falls back to the human-readable part of a bounce
// when the machine-readable part carries no words.
func decide(status, replyCode, diagnostic string) (class string, rule string) {
	st := parseStatus(status)
	code := parseCode(replyCode)
	raw := strings.TrimSpace(diagnostic)
	if len(raw) > maxClassifyText {
		raw = raw[:maxClassifyText]
	}
	// A status or code in the text fills in what the caller lacks, and a
	// specific status in the text refines a generic x.0.0 of the same class.
	if code == 0 {
		code = leadingCode(raw)
	}
	if ds, ok := firstStatus(raw); ok {
		switch {
		case !st.valid:
			st = ds
		case st.subject == 0 && st.detail == 0 && ds.class == st.class:
			st = ds
		}
	}
	if st.class == 2 || (st.class == 0 && code >= 200 && code < 300) {
		return "", "success"
	}

	low := normalize(raw)
	clean := sanitize(low)

	if st.valid && st.subject == 4 && st.detail == 1 && reDBEB.MatchString(low) {
		return ClassInvalid, "dbeb"
	}
	if (st.valid && st.subject == 1 && (st.detail == 7 || st.detail == 8)) || reSender.MatchString(clean) {
		return ClassPolicy, "sender"
	}
	if (st.valid && st.subject == 2 && st.detail == 2) || reFull.MatchString(clean) {
		return ClassSoft, "full"
	}
	policy := rePolicy.MatchString(clean) || rePolicyToken.MatchString(low)
	strong := reStrongInvalid.MatchString(clean) || reInvalidToken.MatchString(low) ||
		(reDomainMissing.MatchString(clean) && !reTryAgain.MatchString(clean))
	if strong {
		if !policy || st.addressing() {
			return ClassInvalid, "nonexistence words"
		}
		return ClassPolicy, "policy words beat nonexistence words"
	}
	if policy {
		return ClassPolicy, "policy words"
	}
	if st.addressing() {
		if st.class == 5 {
			return ClassInvalid, "addressing status"
		}
		return ClassSoft, "temporary addressing status"
	}
	temporal := reTemporal.MatchString(clean)
	suspended := reSuspended.MatchString(clean)
	if reWeakInvalid.MatchString(clean) {
		switch {
		case suspended:
			return ClassSoft, "weak words behind suspension"
		case st.class == 4 || (st.class == 0 && code >= 400 && code < 500) || temporal:
			return ClassSoft, "weak words behind temporary failure"
		case st.valid && st.subject == 7:
			return ClassPolicy, "weak words behind security status"
		default:
			return ClassInvalid, "weak nonexistence words"
		}
	}
	if temporal || suspended {
		return ClassSoft, "temporary words"
	}
	if st.valid && !(st.subject == 0 && st.detail == 0) {
		switch {
		case st.subject == 7, st.subject == 5, st.subject == 6,
			st.subject == 3 && st.detail == 4, st.subject == 2 && st.detail == 3:
			return ClassPolicy, "policy status"
		}
		return ClassSoft, "status"
	}
	switch code {
	case 554:
		return ClassPolicy, "reply code 554"
	case 551:
		return ClassInvalid, "reply code 551"
	}
	return ClassSoft, "no evidence"
}

// maxClassifyText bounds the text the patterns run over; diagnostics are
// a few hundred bytes, whole bounce texts a few kilobytes.
const maxClassifyText = 64 << 10

// status is a parsed RFC 3463 enhanced status code.
type status struct {
	valid                  bool
	class, subject, detail int
}

// addressing reports an addressing status that says the destination does
// not exist: x.1.1 mailbox, x.1.2 system, x.1.3 syntax, x.1.6 moved,
// x.1.10 null MX.
func (s status) addressing() bool {
	if !s.valid || s.subject != 1 {
		return false
	}
	switch s.detail {
	case 1, 2, 3, 6, 10:
		return true
	}
	return false
}

func (s status) String() string {
	if !s.valid {
		return ""
	}
	return strconv.Itoa(s.class) + "." + strconv.Itoa(s.subject) + "." + strconv.Itoa(s.detail)
}

var reStatus = regexp.MustCompile(`(?:^|[^\w.])#?([245])\.(\d{1,3})\.(\d{1,3})(?:$|[^\w.]|\.(?:\s|$))`)

// parseStatus reads an enhanced status from the start of s ("5.1.1",
// "5.1.1 (bad destination mailbox)").
func parseStatus(s string) status {
	s = strings.TrimSpace(s)
	m := reStatus.FindStringSubmatch(" " + s)
	if m == nil || !strings.HasPrefix(strings.TrimLeft(s, "#"), m[1]) {
		return status{}
	}
	return makeStatus(m)
}

// firstStatus finds the first failure (4.x.x or 5.x.x) enhanced status
// anywhere in s. Success statuses are skipped: a session transcript
// quotes "250 2.1.0 Ok" before the reply that failed.
func firstStatus(s string) (status, bool) {
	for _, m := range reStatus.FindAllStringSubmatch(s, 50) {
		if m[1] != "2" {
			return makeStatus(m), true
		}
	}
	return status{}, false
}

func makeStatus(m []string) status {
	c, _ := strconv.Atoi(m[1])
	sub, _ := strconv.Atoi(m[2])
	det, _ := strconv.Atoi(m[3])
	return status{valid: true, class: c, subject: sub, detail: det}
}

// parseCode reads a three-digit SMTP reply code; 0 if s is not one.
func parseCode(s string) int {
	s = strings.TrimSpace(s)
	if len(s) < 3 {
		return 0
	}
	n, err := strconv.Atoi(s[:3])
	if err != nil || n < 200 || n > 599 || (len(s) > 3 && s[3] >= '0' && s[3] <= '9') {
		return 0
	}
	return n
}

var reLeadingCode = regexp.MustCompile(`^(?:[a-zA-Z0-9-]+;\s*)?#?([245]\d\d)(?:[\s\-,:.]|$)`)

// leadingCode reads a reply code at the start of a diagnostic
// ("smtp; 550 5.1.1 ...", "550-5.1.1 ...", "#550 ...").
func leadingCode(s string) int {
	m := reLeadingCode.FindStringSubmatch(s)
	if m == nil {
		return 0
	}
	return parseCode(m[1])
}

// foldMarks strips accents so that "Empfänger" matches "empfanger" and
// "désactivé" matches "desactive": servers are inconsistent about them.
var foldMarks = transform.Chain(norm.NFD, runes.Remove(runes.In(unicode.Mn)), norm.NFC)

// normalize lowercases s, strips accents, straightens quotes and collapses
// white space, so the patterns below can be written once.
func normalize(s string) string {
	if t, _, err := transform.String(foldMarks, s); err == nil {
		s = t
	}
	s = strings.ToLower(s)
	s = strings.NewReplacer("\u2019", "'", "\u2018", "'", "`", "'", "\u00a0", " ").Replace(s)
	return strings.Join(strings.Fields(s), " ")
}

var (
	reURL           = regexp.MustCompile(`(?:https?|ftp)://\S+|www\.\S+`)
	reEmail         = regexp.MustCompile(`[\p{L}\p{N}.!#$%&'*+/=?^_{|}~-]+@[\p{L}\p{N}](?:[\p{L}\p{N}-]*[\p{L}\p{N}])?(?:\.[\p{L}\p{N}](?:[\p{L}\p{N}-]*[\p{L}\p{N}])?)*`)
	reEmptyBrackets = regexp.MustCompile(`[<\[("']\s*[>\])"']`)
	reIP            = regexp.MustCompile(`\[?\b\d{1,3}(?:\.\d{1,3}){3}\b\]?|\[?\b[0-9a-f]{1,4}(?::[0-9a-f]{0,4}){2,7}\b\]?`)
	// Host names would otherwise lend their words to the text: a relay
	// called spamfilter.example.org is no evidence of a spam block.
	reHost = regexp.MustCompile(`\b[a-z0-9](?:[a-z0-9_-]*[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9_-]*[a-z0-9])?)*\.(?:com|net|org|edu|gov|mil|int|info|biz|io|co|us|uk|de|fr|nl|no|se|dk|fi|es|it|pt|be|ch|at|pl|cz|ru|ua|jp|cn|kr|tw|in|au|nz|ca|br|mx|ar|eu|me|tv|cc|example|invalid|test|local|localdomain|lan|internal|arpa|online|email|mail|cloud)\b`)
)

// sanitize removes URLs, addresses, IP addresses and host names from a
// normalized text, leaving the words.
func sanitize(s string) string {
	s = reURL.ReplaceAllString(s, " ")
	// An address goes with its brackets, so "recipient <a@b> does not
	// exist" reads "recipient does not exist".
	s = reEmail.ReplaceAllString(s, " ")
	s = reEmptyBrackets.ReplaceAllString(s, " ")
	s = reIP.ReplaceAllString(s, " ")
	s = reHost.ReplaceAllString(s, " ")
	return strings.Join(strings.Fields(s), " ")
}

// words compiles alternatives into one case-sensitive pattern (the input
// is already normalized), anchored at word starts.
func words(alts ...string) *regexp.Regexp {
	// Patterns go through the same folding as the text ("й" loses its
	// breve in both).
	p := strings.Join(alts, "|")
	if t, _, err := transform.String(foldMarks, p); err == nil {
		p = t
	}
	return regexp.MustCompile(`(?:^|[^\p{L}\p{N}])(?:` + p + `)`)
}

var (
	// reDBEB: Exchange Online's answer for a recipient that is not in the
	// tenant ("550 5.4.1 Recipient address rejected: Access denied.
	// AS(201806281)").
	reDBEB = regexp.MustCompile(`recipient address rejected: access denied`)

	// reSender: the complaint is about us — our sender address or domain,
	// our host, our authentication or our sending quota.
	reSender = words(
		`sender address rejected`, `sender (?:address |domain )?(?:is )?(?:unknown|not found|does not exist|doesn't exist|invalid|denied|rejected|blocked|not allowed|verify failed)`,
		`unknown sender`, `sender (?:verification|verify) failed`, `domain of sender address`, `sender domain`,
		`client host rejected`, `helo command rejected`, `ehlo command rejected`, `reverse dns`, `reverse (?:hostname|lookup)`,
		`ptr record`, `rdns`, `cannot find your hostname`, `cannot find your reverse`,
		`(?:daily )?(?:user )?sending (?:quota|limit)`, `sender is not authorized`, `from address (?:is )?(?:invalid|rejected|not)`,
	)

	// reFull: the mailbox exists but is full.
	reFull = words(
		`mailbox (?:is )?full`, `mail ?box full`, `inbox (?:is )?full`, `mailbox (?:has )?exceeded`, `mailfolder is over`,
		`over (?:the )?(?:allowed )?quota`, `over ?quota`, `quota (?:exceeded|exceed|full|violation)`, `exceeded (?:the )?(?:storage|quota|mailbox)`,
		`exceeds? (?:the )?(?:storage|quota|mailbox size)`, `disk quota`, `insufficient (?:storage|disk|space|system storage)`,
		`not enough (?:storage|space|disk)`, `mailbox size limit`, `storage (?:limit|quota|space)`, `out of (?:storage|disk space)`,
		`is full`, `(?:is|are) over (?:their|its|the) (?:storage|quota)`, `too much mail`, `receiving mail at a rate`,
		`postkassen (?:er )?full`, `innboksen (?:er )?full`, `kvote`, `postfach (?:ist )?(?:voll|uberfullt)`, `speicherplatz`,
		`(?:postvak|mailbox|brievenbus) (?:is )?vol`, `boite (?:aux lettres |de reception )?(?:est )?pleine`, `boite pleine`, `espace (?:de stockage )?insuffisant`,
		`quota (?:depasse|atteint)`, `buzon (?:del destinatario )?(?:esta )?lleno`, `cuota`, `casella (?:piena|e piena)`, `caixa (?:de correio )?cheia`,
		`ящик переполнен`, `переполнен`, `превышен`,
	)

	// rePolicy: the receiver refused us, not the person.
	rePolicy = words(
		`spam`, `spamhaus`, `spamcop`, `anti-?spam`, `unsolicited`, `bulk mail`, `junk`, `phish`, `virus`, `malware`, `infected`,
		`black ?list(?:ed)?`, `block ?list(?:ed)?`, `deny ?list(?:ed)?`, `dnsbl`, `rbl`, `sorbs`, `barracuda`, `(?:is|are|was|been|currently|ip|host) listed (?:in|on|at|by)`,
		`blocked`, `block(?:ed)? (?:using|by|due)`, `banned`, `reputation`, `complaints?`, `abuse`,
		`rate ?limit`, `rate-limit`, `(?:too|to) many (?:messages|connections|recipients|mails|emails|e-mails|concurrent)`, `limits for how many`,
		`throttl`, `slow down`, `spf`, `dkim`, `dmarc`, `authenticat`, `unauthenticated`, `not authori[sz]ed`, `unauthori[sz]ed`,
		`(?:do not|don't) have permission`, `permission to send`, `not permitted`, `not allowed to send`,
		`relay(?:ing)? (?:access )?(?:denied|not permitted|not allowed|prohibited|refused)`, `(?:unable|not permitted) to relay`, `we do not relay`, `no relaying`, `relay access`,
		`content (?:rejected|filter|polic|restriction)`, `message (?:content )?(?:rejected|refused) (?:due|because|as|for)`, `rejected (?:due to|for|because of) (?:content|policy|spam)`,
		`polic(?:y|ies)`, `prohibited`, `access denied`, `denied by`, `refused by`, `service refus`, `delivery not authori[sz]ed`,
		`message (?:is )?too (?:big|large)`, `message size`, `size (?:exceeds|limit)`, `exceeds (?:the )?(?:maximum )?(?:allowed )?(?:message )?size`, `message length exceeds`,
		`your ip`, `your server`, `your network`, `your domain`, `sending ip`, `sending server`, `not accepted from this ip`, `weren't sent`,
		`mail from .{0,40}(?:rejected|refused|not accepted)`, `(?:blokkert|svartelist)`, `(?:geblockt|blockiert|gesperrt wegen)`, `(?:bloque|liste noire)`, `(?:bloqueado|lista negra)`, `(?:geblokkeerd|zwarte lijst)`,
	)
	// rePolicyToken: policy words glued into Exchange and provider codes.
	rePolicyToken = regexp.MustCompile(`resolver\.rst\.|notauthorized|authrequired|senderfiltered|\[tss\d+\]|\bsc-00\d|\brp-00\d|\bcs0\d\b`)

	// reStrongInvalid: words saying the mailbox or address does not exist.
	reStrongInvalid = words(
		`user unknown`, `unknown (?:local )?user`, `unknown local[- ]?part`, `unknown (?:or illegal )?alias`, `illegal alias`,
		`unknown recipient`, `recipient unknown`, `unknown (?:e-?mail )?address`, `address unknown`, `unknown mailbox`, `mailbox unknown`, `unknown account`, `unknown addressee`,
		`no such (?:user|mailbox|recipient|account|address|person|local user|e-?mail address)`, `no mailbox here`, `no mailbox (?:by|with) that name`,
		`(?:user|mailbox|recipient|account|address|addressee|alias|person|mail ?box|e-?mail address|e-?mail account|email account)(?: name)?(?: that you tried to reach)? (?:does not|doesn't|do not|did not|no longer|does no longer) exists?`,
		`(?:user|mailbox|recipient|account|address|addressee|mail ?box)(?: name)? (?:was |is )?not found`, `not found by smtp address lookup`,
		`(?:user|recipient|mailbox|address) (?:was |is )?not (?:known|listed|present|valid here)`, `not listed in (?:the )?(?:domino directory|public name|name & address|address book|directory)`,
		`(?:address|recipient|user|mailbox|account) (?:could not|couldn't|cannot|can't) be found`, `(?:wasn't|was not) found at`,
		`(?:account|mailbox|user|address|recipient)(?: that you tried to reach)? (?:is |has been |was )?(?:disabled|deactivated|discontinued|deleted|terminated|closed|removed|inactive|expired)`,
		`inactive (?:user|account|mailbox)`,
		`(?:user|mailbox|account|address) (?:has )?moved`, `user not local`, `not our customer`, `address no longer`, `no longer (?:active|valid|in use|exists|available at)`,
		`(?:doesn't|does not) have an?(?: [\p{L}\p{N}.-]+)? account`, `address not found`, `recipient not found`, `recipient(?: address)? does not exist`,
		`mailbox not found`, `mailbox (?:does not|doesn't) exist`, `nonexistent (?:user|mailbox|recipient|address|account)`, `non-existent (?:user|mailbox|recipient|address|account)`,
		`inexistent`, `bad destination mailbox`, `not a known user`, `unknown or invalid (?:user|recipient|address)`,
		// Norwegian, Danish, Swedish
		`(?:brukeren|mottakeren|adressen|postkassen|kontoen|e-?postadressen|mottageren|modtageren|brugeren|mottagaren|anvandaren|adressen) (?:finnes|fins|findes|finns) (?:ikke|inte)`,
		`(?:finnes|findes|finns) ikke`, `ukjent (?:bruker|mottaker|adresse|mottakar)`, `ukendt (?:bruger|modtager|adresse)`, `okand (?:anvandare|mottagare|adress)`,
		`finner ikke (?:e-?postadressen|mottakeren|adressen)`, `ble ikke funnet`, `kunne ikke finne (?:mottakeren|e-?postadressen|adressen)`, `blev ikke fundet`, `hittades inte`,
		// German
		`existiert nicht`, `gibt es nicht`, `(?:ist )?nicht vorhanden`, `unbekannte?r? (?:empfanger|benutzer|user|adresse|mailbox|postfach|nutzer)`,
		`(?:empfanger|benutzer|nutzer|adresse|postfach|mailbox|e-mail-adresse|empfangeradresse)(?: ist)? unbekannt`, `wurde nicht gefunden`, `konnte nicht gefunden werden`, `kein postfach`, `kein benutzer`,
		// Dutch
		`(?:gebruiker|ontvanger|adres|mailbox|postvak|e-?mailadres)(?: is)? (?:onbekend|bestaat niet|niet gevonden)`, `onbekende (?:gebruiker|ontvanger|geadresseerde)`, `bestaat niet`, `is niet gevonden`, `niet gevonden`,
		// French
		`utilisateur inconnu`, `destinataire inconnu`, `adresse (?:e-?mail )?inconnue`, `compte inconnu`, `n'existe (?:pas|plus)`, `n existe (?:pas|plus)`, `inexistante?`, `introuvable`,
		`compte (?:desactive|supprime|ferme)`, `boite (?:aux lettres )?(?:inexistante|inconnue|introuvable)`,
		// Spanish, Italian, Portuguese
		`usuario (?:desconocido|inexistente|no existe)`, `destinatario (?:desconocido|inexistente|no existe)`, `(?:el )?buzon (?:no existe|inexistente|desconocido)`, `no existe`,
		`direccion (?:de correo )?(?:no encontrada|desconocida|inexistente)`, `no se encontro`, `cuenta (?:deshabilitada|desactivada|inexistente|no existe)`,
		`utente (?:sconosciuto|inesistente)`, `(?:casella|indirizzo) (?:inesistente|sconosciut[oa])`, `non esiste`, `usuario desconhecido`, `nao existe`,
		// Russian
		`не существует`, `не найден`, `нет такого`, `несуществующ`, `неизвестный (?:пользователь|адресат|получатель)`, `пользователь не найден`,
	)
	// reInvalidToken: nonexistence glued into Exchange codes.
	reInvalidToken = regexp.MustCompile(`recip(?:ient)?notfound|exrecipnotfound|nonexistentdomain|nosuchuser\b|invalidrecipient|\buser_unknown|\bnosuchrecipient`)

	// reDomainMissing: the recipient's domain does not exist. Suppressed
	// when the same text says "try again", which is how resolvers report a
	// temporary failure ("Host not found, try again").
	reDomainMissing = words(
		`domain (?:name )?(?:does not exist|doesn't exist|not found|unknown|is not valid)`, `no such domain`, `nonexistent domain`, `non-existent domain`, `unknown domain`,
		`nxdomain`, `host or domain name not found`, `(?:mx records? )?points? to non-?existent hosts?`, `(?:couldn't|could not) find any host named`, `unrouteable`, `unroutable`, `null mx`,
		`domain (?:has )?no (?:mx|mail exchanger)`, `no mx (?:or a )?records? for domain`, `domene(?:t)? finnes ikke`, `domain existiert nicht`, `domaine inexistant`, `dominio (?:no existe|inexistente)`,
	)
	reTryAgain = words(`try again`, `servfail`, `temporary`, `temporar(?:ily|y) (?:failure|error)`)

	// reWeakInvalid: usually a missing mailbox, but also said for other
	// refusals.
	reWeakInvalid = words(
		`mailbox unavailable`, `mailbox (?:is )?not available`, `mailbox (?:is )?unavailable`, `invalid (?:recipient|mailbox|address|user|e-?mail|destination|account)`,
		`(?:recipient|recipients|address|mailbox|adresse|e-?mail address)(?: is)? (?:invalid|not valid)`, `(?:recipient )?address rejected`, `recipient rejected`,
		`rejected recipient`, `unable to receive mail`, `not a valid (?:mailbox|user|recipient|address)`, `bad (?:recipient|address)`, `undeliverable address`,
		`invalid address`, `ugyldig (?:mottaker|adresse|e-?postadresse)`, `ongeldig(?:e)? (?:ontvanger|adres|e-?mailadres)`, `ungultige?r? (?:empfanger|adresse)`,
		`destinataire invalide`, `adresse invalide`, `destinatario (?:no valido|invalido)`, `direccion (?:no valida|invalida)`, `invalid mailbox`, `bad mailbox`,
	)

	// reTemporal: the failure is of the moment.
	reTemporal = words(
		`greylist`, `grey-list`, `graylist`, `gray-list`, `try again`, `try later`, `retry later`, `come back later`, `please retry`,
		`temporar`, `timed? ?out`, `connection (?:refused|reset|timed out|lost|dropped)`, `lost connection`, `no route to host`, `network is unreachable`,
		`expired`, `retry time(?:out)? (?:not reached|exceeded)`, `too long in (?:the )?queue`, `in the queue too long`, `been in the queue`, `will (?:retry|keep trying)`,
		`deferred`, `delayed`, `servfail`, `server busy`, `resources? temporarily`, `local (?:error|problem)`, `try again in`, `not yet been delivered`,
		`midlertidig`, `vorubergehend`, `temporaire`, `temporal`, `tijdelijk`,
	)

	// reSuspended: the account exists but is suspended or locked; it may
	// come back, so the address is not marked.
	reSuspended = words(`suspended`, `(?:account|mailbox|user) (?:is |has been )?(?:locked|frozen|blocked|on hold)`, `gesperrt`)
)
