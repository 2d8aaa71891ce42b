package dispatcher

import (
	"context"
	"crypto/sha256"
	"encoding/csv"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"
)

// Importer loads a contact list (CSV as spreadsheets export it) into a
// campaign. It streams: rows are read, validated and stored in batches, so
// a list of millions of people needs no more memory than one batch, and a
// failure part-way leaves every earlier batch committed. Re-running an
// import is safe: the store skips contacts whose DedupeKey it already holds.
type Importer struct {
	Store Store
	// Now stamps the import and the planned deliveries; nil means time.Now.
	Now func() time.Time
	// Logger gets counts and IDs, never names, addresses or numbers;
	// nil discards.
	Logger *slog.Logger
}

// ImportOptions tunes one import.
type ImportOptions struct {
	// Source names the file in the import record, the reject report and
	// error messages.
	Source string
	// Encoding of the file: "" to detect (a byte order mark, else valid
	// UTF-8, else Windows-1252), or one of utf-8, windows-1252 (cp1252),
	// iso-8859-1 (latin1), iso-8859-15, utf-16le, utf-16be.
	Encoding string
	// Delimiter between fields; 0 sniffs comma, semicolon or tab from the
	// header line (or uses Excel's "sep=;" first line).
	Delimiter rune
	// Region is the default country (ISO 3166 alpha-2, e.g. NO) for
	// reading phone numbers written without a country code, used when the
	// row has no country of its own.
	Region string
	// Map overrides how columns are understood: header → field, where the
	// header is matched like the built-in names (case, spaces, hyphens
	// and underscores ignored) and field is one of id, name, first_name,
	// middle_name, last_name, email, phone, locale, country, email_consent,
	// do_not_email, address_line1, address_line2, postal_code, city,
	// region, attr (keep as a template variable) or "-" (ignore the
	// column).
	Map map[string]string
	// BatchSize is how many contacts are stored per transaction; 0 means
	// 1000.
	BatchSize int
	// Strict rejects a row with an invalid e-mail address or phone number
	// instead of importing it without that field.
	Strict bool
	// Rejects, when set, receives the reject report as CSV with the
	// columns row,column,value,severity,reason.
	Rejects io.Writer
	// Progress, when set, is called after each batch with the number of
	// bytes read from the input so far.
	Progress func(bytesRead int64)
}

// DefaultImportBatch is the batch size used when ImportOptions.BatchSize
// is 0: large enough to amortise a transaction, small enough that a
// failed batch is quick to retry.
const DefaultImportBatch = 1000

// Import reads contacts from r into campaign c and returns what happened.
//
// Each batch is stored with Store.ImportContacts, which plans the
// deliveries of each new contact with PlanFor: the campaign's policy and
// its eligibility rules (consent required, do-not-e-mail, all channels;
// see eligibility.go). The deliveries are pending: the workers' feeder
// hands those of running campaigns to the queue (letters, the postal
// channel, wait for a print batch instead: postal.go). A completed
// campaign that gains contacts to send to goes back to running (its status
// is re-read for every batch, as the campaign may change during a long
// import); a campaign cancelled during the import stops it.
//
// Columns are recognised by their header in English, Norwegian, Swedish,
// Danish, Dutch and German (see ImportOptions.Map to override). Columns
// that are not contact fields become template variables in Contact.Attrs,
// keyed by the header exactly as written with surrounding spaces removed
// ("Rolle " → "Rolle"; a repeated header gets "#2", "#3"...).
//
// Rows that cannot be imported are counted as Rejected. Warnings counts the
// rows imported with a bad field left out (they are also counted in
// Accepted or Duplicates), so Read = Accepted + Rejected + Duplicates.
// Blank rows are skipped without being counted. The problems of both kinds
// are written to opt.Rejects and stored with Store.AddRejects, one line per
// problem. A malformed row never stops the import. A store failure does: the error names the rows of the failed
// batch, and running the same import again resumes where it stopped.
func (im *Importer) Import(ctx context.Context, c *Campaign, r io.Reader, opt ImportOptions) (*ImportRun, error) {
	if c == nil {
		return nil, Errorf(EINVALID, "import: no campaign given")
	}
	source := opt.Source
	if source == "" {
		source = "input"
	}
	if c.Status == CampaignCancelled {
		return nil, Errorf(ECONFLICT, "import %s: campaign %s is cancelled: create a new campaign for these contacts", source, c.Name)
	}
	counter := &importCountingReader{r: r}
	cr, err := NewContactReader(counter, opt)
	if err != nil {
		return nil, fmt.Errorf("import %s: %w", source, err)
	}
	st := &importState{
		im:      im,
		c:       c,
		source:  source,
		opt:     opt,
		log:     im.logger().With("campaign", c.ID, "source", source),
		counter: counter,
		run:     &ImportRun{CampaignID: c.ID, Source: source, StartedAt: im.now()},
		size:    opt.BatchSize,
	}
	if st.size <= 0 {
		st.size = DefaultImportBatch
	}
	if opt.Rejects != nil {
		st.rejectsCSV = csv.NewWriter(opt.Rejects)
		if err := st.rejectsCSV.Write([]string{"row", "column", "value", "severity", "reason"}); err != nil {
			return nil, fmt.Errorf("import %s: write reject report: %w", source, err)
		}
	}
	st.log.Info("import started", "encoding", cr.Encoding(), "delimiter", string(cr.Delimiter()), "columns", len(cr.Columns()))
	vctx, stopValidating := context.WithCancel(ctx)
	defer stopValidating()
	chunks, readErr := cr.validated(vctx, runtime.GOMAXPROCS(0))
	for chunk := range chunks {
		for _, row := range chunk {
			if err := st.add(row); err != nil {
				return nil, err
			}
			if len(st.batch) >= st.size || len(st.rejects) >= st.size {
				if err := st.flush(ctx); err != nil {
					return nil, err
				}
			}
		}
	}
	if err := ctx.Err(); err != nil {
		// The validators stopped; what they had not handed over is not
		// stored. Rows up to the last flush are.
		return nil, fmt.Errorf("import %s: %w; rows up to %d are stored; run the same import again to resume", source, err, st.lastStored)
	}
	// Every row read before a read error is stored first.
	if err := st.flush(ctx); err != nil {
		return nil, err
	}
	if err := readErr(); err != nil {
		return nil, fmt.Errorf("import %s row %d: %w", source, cr.LastRow()+1, err)
	}
	run := st.run
	run.FinishedAt = im.now()
	if err := im.Store.RecordImport(ctx, run); err != nil {
		return nil, fmt.Errorf("import %s: record import run (every row up to %d is stored): %w", source, cr.LastRow(), err)
	}
	st.log.Info("import finished", "read", run.Read, "accepted", run.Accepted, "rejected", run.Rejected,
		"warnings", run.Warnings, "duplicates", run.Duplicates, "bytes", counter.n.Load(),
		"duration", run.FinishedAt.Sub(run.StartedAt))
	return run, nil
}

func (im *Importer) now() time.Time {
	if im.Now != nil {
		return im.Now()
	}
	return time.Now()
}

func (im *Importer) logger() *slog.Logger {
	if im.Logger != nil {
		return im.Logger
	}
	return slog.New(slog.DiscardHandler)
}

// importState is one Import call in progress.
type importState struct {
	im         *Importer
	c          *Campaign
	source     string
	opt        ImportOptions
	log        *slog.Logger
	counter    *importCountingReader
	run        *ImportRun
	size       int
	batch      []Contact
	rejects    []Reject
	firstRow   int // first row of the current batch (0 = none yet)
	lastRow    int
	lastStored int // the last row of the last batch stored
	rejectsCSV *csv.Writer
}

func (st *importState) add(row *ImportRow) error {
	st.run.Read++
	if st.firstRow == 0 {
		st.firstRow = row.Row
	}
	st.lastRow = row.Row
	if row.Contact == nil {
		st.run.Rejected++
	} else {
		row.Contact.CampaignID = st.c.ID
		st.batch = append(st.batch, *row.Contact)
		if len(row.Rejects) > 0 {
			st.run.Warnings++
		}
	}
	for _, rj := range row.Rejects {
		st.rejects = append(st.rejects, rj)
		if st.rejectsCSV != nil {
			if err := st.rejectsCSV.Write([]string{strconv.Itoa(rj.Row), rj.Column, rj.Value, rj.Severity, rj.Reason}); err != nil {
				return fmt.Errorf("import %s row %d: write reject report: %w", st.source, row.Row, err)
			}
		}
	}
	return nil
}

// flush stores the current batch and its rejects and queues its jobs.
func (st *importState) flush(ctx context.Context) error {
	if st.firstRow == 0 {
		return st.flushReport()
	}
	from, to := st.firstRow, st.lastRow
	resume := fmt.Sprintf("rows before %d are stored; run the same import again to resume (stored rows are skipped as duplicates)", from)
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("import %s rows %d-%d: %w; %s", st.source, from, to, err, resume)
	}
	if len(st.batch) > 0 {
		now := st.im.now()
		camp := st.c
		res, err := st.im.Store.ImportContacts(ctx, st.c.ID, st.batch, func(ct *Contact) []Delivery {
			return PlanFor(camp, ct, now)
		})
		if err != nil {
			return fmt.Errorf("import %s rows %d-%d: store contacts: %w; %s", st.source, from, to, err, resume)
		}
		if res.Inserted+res.Duplicates != len(st.batch) {
			return Errorf(EINTERNAL, "import %s rows %d-%d: the store reported %d inserted and %d duplicates for %d contacts", st.source, from, to, res.Inserted, res.Duplicates, len(st.batch))
		}
		st.run.Accepted += res.Inserted
		st.run.Duplicates += res.Duplicates
		if err := st.dispatch(ctx, res.Deliveries, now); err != nil {
			if ErrorCode(err) == ECONFLICT {
				return fmt.Errorf("import %s rows %d-%d: %w; rows up to %d were stored and their unsent deliveries cancelled", st.source, from, to, err, to)
			}
			return fmt.Errorf("import %s rows %d-%d: %w; rows up to %d are stored; run the same import again to resume", st.source, from, to, err, to)
		}
	}
	if len(st.rejects) > 0 {
		if _, err := st.im.Store.AddRejects(ctx, st.c.ID, st.rejects); err != nil {
			return fmt.Errorf("import %s rows %d-%d: store rejects: %w; contacts up to row %d are stored; run the same import again to record the rejects", st.source, from, to, err, to)
		}
	}
	st.log.Debug("import batch stored", "from_row", from, "to_row", to, "contacts", len(st.batch), "rejects", len(st.rejects))
	st.lastStored = to
	clear(st.batch)
	st.batch = st.batch[:0]
	clear(st.rejects)
	st.rejects = st.rejects[:0]
	st.firstRow = 0
	return st.flushReport()
}

// flushReport pushes the reject report out and tells the caller how far
// the import has got.
func (st *importState) flushReport() error {
	if st.rejectsCSV != nil {
		st.rejectsCSV.Flush()
		if err := st.rejectsCSV.Error(); err != nil {
			return fmt.Errorf("import %s: write reject report: %w", st.source, err)
		}
	}
	if st.opt.Progress != nil {
		st.opt.Progress(st.counter.n.Load())
	}
	return nil
}

// dispatch looks at the campaign after a batch that added pending
// deliveries: a completed campaign runs again, so the feeder picks them
// up, and a cancelled one stops the import.
func (st *importState) dispatch(ctx context.Context, ds []Delivery, now time.Time) error {
	if !slices.ContainsFunc(ds, func(d Delivery) bool { return d.ID != 0 && Queueable(&d) }) {
		return nil
	}
	cur, err := st.im.Store.Campaign(ctx, st.c.ID)
	if err != nil {
		return fmt.Errorf("read campaign status: %w", err)
	}
	if cur.Status != CampaignCompleted {
		return st.stopIfCancelled(ctx, cur, now)
	}
	err = st.im.Store.SetCampaignStatus(ctx, st.c.ID, []CampaignStatus{CampaignCompleted}, CampaignRunning, now)
	switch {
	case errors.Is(err, ErrStale):
		// Someone else moved it: act on what it is now.
		if cur, err = st.im.Store.Campaign(ctx, st.c.ID); err != nil {
			return fmt.Errorf("read campaign status: %w", err)
		}
		return st.stopIfCancelled(ctx, cur, now)
	case err != nil:
		return fmt.Errorf("reopen completed campaign: %w", err)
	}
	st.log.Info("completed campaign reopened for new contacts")
	return nil
}

// stopIfCancelled cancels what this import just added to a campaign that
// was cancelled while it ran, and stops the import.
func (st *importState) stopIfCancelled(ctx context.Context, cur *Campaign, now time.Time) error {
	if cur.Status != CampaignCancelled {
		return nil // draft or paused: launch or resume picks the pending deliveries up
	}
	n, err := st.im.Store.CancelUnsent(ctx, st.c.ID, now)
	if err != nil {
		return fmt.Errorf("campaign was cancelled during the import; cancel its unsent deliveries: %w", err)
	}
	st.log.Warn("campaign cancelled during import; import stopped", "cancelled_deliveries", n)
	return Errorf(ECONFLICT, "campaign %s was cancelled during the import", st.c.Name)
}

// importCountingReader counts the bytes read from the input, for Progress.
type importCountingReader struct {
	r io.Reader
	n atomic.Int64 // read by the importer while the reader goroutine counts
}

func (c *importCountingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n.Add(int64(n))
	return n, err
}

// ImportRow is one data row of a contact file after validation.
type ImportRow struct {
	Row int // spreadsheet row number (the header is row 1)
	// Contact is the row's contact, nil when the row is rejected. Its
	// Email and Phone are set only when valid.
	Contact *Contact
	// Rejects are the row's problems: errors when Contact is nil,
	// otherwise warnings about fields left out.
	Rejects []Reject
}

// Contact fields a column can map to.
const (
	importFieldID     = "id"
	importFieldName   = "name"
	importFieldFirst  = "first_name"
	importFieldMiddle = "middle_name"
	importFieldLast   = "last_name"
	importFieldEmail  = "email"
	importFieldPhone  = "phone"
	importFieldLocale = "locale"
	importFieldCtry   = "country"
	importFieldAttr   = "attr"
	importFieldIgnore = "-"

	// Eligibility and the postal address (see eligibility.go, postal.go).
	importFieldConsent    = "email_consent"
	importFieldDoNotEmail = "do_not_email"
	importFieldLine1      = "address_line1"
	importFieldLine2      = "address_line2"
	importFieldPostcode   = "postal_code"
	importFieldCity       = "city"
	importFieldRegion     = "region"
)

// importFieldNames are the names accepted in ImportOptions.Map values.
var importFieldNames = map[string]string{
	"id": importFieldID, "externalid": importFieldID, "external": importFieldID,
	"name": importFieldName, "fullname": importFieldName,
	"firstname": importFieldFirst, "first": importFieldFirst, "givenname": importFieldFirst,
	"middlename": importFieldMiddle, "middle": importFieldMiddle, "infix": importFieldMiddle,
	"lastname": importFieldLast, "last": importFieldLast, "surname": importFieldLast, "familyname": importFieldLast,
	"email": importFieldEmail, "phone": importFieldPhone, "mobile": importFieldPhone, "sms": importFieldPhone,
	"locale": importFieldLocale, "language": importFieldLocale, "country": importFieldCtry,
	"attr": importFieldAttr, "var": importFieldAttr, "variable": importFieldAttr,
	"-": importFieldIgnore, "ignore": importFieldIgnore, "skip": importFieldIgnore,
	"emailconsent": importFieldConsent, "consent": importFieldConsent,
	"donotemail": importFieldDoNotEmail, "noemail": importFieldDoNotEmail,
	"addressline1": importFieldLine1, "address": importFieldLine1, "address1": importFieldLine1, "street": importFieldLine1,
	"addressline2": importFieldLine2, "address2": importFieldLine2,
	"postalcode": importFieldPostcode, "postcode": importFieldPostcode, "zip": importFieldPostcode,
	"city": importFieldCity, "town": importFieldCity,
	"region": importFieldRegion, "state": importFieldRegion, "province": importFieldRegion,
}

// importAliases maps normalised header names (see importHeaderKey) to
// fields, in English, Norwegian, Swedish, Danish, Dutch and German.
var importAliases = func() map[string]string {
	m := map[string]string{}
	add := func(field string, names ...string) {
		for _, n := range names {
			m[importHeaderKey(n)] = field
		}
	}
	add(importFieldID,
		"id", "external_id", "external id", "ext_id", "employee_id", "employee_no", "employee_number", "employee nr",
		"staff_id", "staff_number", "personnel_number", "patient_id", "patient_number", "patient_no", "customer_id",
		"customer_number", "customer_no", "member_id", "member_number", "client_id", "record_id", "mrn",
		"ansattnr", "ansattnummer", "ansatt_id", "ansatt-nr", "ansattno", "medarbeidernummer", "medarbeidernr",
		"kundenr", "kundenummer", "kunde_id", "pasientnr", "pasientnummer", "pasient_id", "journalnummer", "medlemsnummer",
		"anställningsnummer", "anstallningsnummer", "anställningsnr", "anstnr", "kundnummer", "kundnr", "patientnummer",
		"medarbejdernummer", "medarbejdernr", "personalenummer", "medlemsnummer",
		"personeelsnummer", "personeelsnr", "klantnummer", "klantnr", "patiëntnummer", "patientnr", "relatienummer", "lidnummer",
		"personalnummer", "personalnr", "mitarbeiternummer", "mitarbeiter_id", "kundennummer", "kundennr", "patientennummer", "mitgliedsnummer")
	add(importFieldName,
		"name", "full_name", "fullname", "display_name", "contact_name", "recipient", "person",
		"navn", "fullt_navn", "fullt navn", "helt navn", "namn", "fullständigt namn", "fullt namn", "fulde navn",
		"naam", "volledige naam", "volledige_naam", "vollständiger name", "vollstandiger name", "vollername")
	add(importFieldFirst,
		"first_name", "firstname", "first", "given_name", "givenname", "forename",
		"fornavn", "förnamn", "fornamn", "voornaam", "voornamen", "roepnaam", "vorname")
	add(importFieldMiddle,
		"middle_name", "middlename", "middle", "mellomnavn", "mellemnavn", "mellannamn",
		"tussenvoegsel", "tussenvoegsels", "voorvoegsel", "infix", "namenszusatz")
	add(importFieldLast,
		"last_name", "lastname", "surname", "family_name", "familyname",
		"etternavn", "efternavn", "efternamn", "achternaam", "familienaam", "nachname", "familienname")
	add(importFieldEmail,
		"email", "e-mail", "e_mail", "mail", "email_address", "email address", "e-mail address", "emailaddress", "mail_address",
		"epost", "e-post", "e-postadresse", "epostadresse", "e-post adresse", "e-postadress", "epostadress", "mejl", "mejladress",
		"e-mailadresse", "emailadresse", "mailadresse",
		"emailadres", "e-mailadres", "e-mail adres", "mailadres",
		"e-mail-adresse", "mail-adresse")
	add(importFieldPhone,
		"phone", "phone_number", "phonenumber", "mobile", "mobile_phone", "mobile_number", "mobilephone", "mobile no",
		"cell", "cellphone", "cell_phone", "cell_number", "telephone", "tel", "msisdn", "sms", "sms_number",
		"telefon", "telefonnummer", "tlf", "tlf.", "tlfnr", "tlf.nr", "tlf nr", "mobil", "mobilnummer", "mobiltelefon", "mobilnr", "mobiltlf",
		"mobiltelefonnummer", "telefonnr", "tel.nr",
		"telefoon", "telefoonnummer", "mobiel", "mobielnummer", "mobiele nummer", "gsm", "gsm-nummer", "06-nummer",
		"handy", "handynummer", "mobilfunknummer", "rufnummer", "telefonnummer mobil")
	add(importFieldLocale,
		"locale", "language", "lang", "language_code", "preferred_language",
		"språk", "sprak", "språkkode", "målform", "malform", "sprog", "taal", "voorkeurstaal", "sprache")
	add(importFieldCtry,
		"country", "country_code", "countrycode", "country code", "nation",
		"land", "landkode", "landskod", "landekode", "landcode", "landscode", "ländercode", "landeskennung")
	add(importFieldConsent,
		"email_consent", "e-mail consent", "consent", "consent_email", "email_opt_in", "electronic_consent",
		"consent to electronic notice", "electronic_notice_consent", "e_notice_consent",
		"samtykke", "samtykke_epost", "samtykke e-post", "epost_samtykke", "samtykke_e-post", "samtykke_email",
		"samtycke", "samtycke_epost", "samtycke e-post",
		"toestemming", "toestemming_email", "toestemming e-mail", "email_toestemming",
		"einwilligung", "einwilligung_email", "einwilligung e-mail", "email_einwilligung")
	add(importFieldDoNotEmail,
		"do_not_email", "do not email", "do_not_e-mail", "dont_email", "no_email", "email_blocked",
		"compromised_mailbox", "mailbox_compromised", "compromised_email", "email_compromised",
		"ikke_epost", "ikke e-post", "ikke_send_epost", "ikke_e-post", "kompromittert_epost", "kompromittert e-post",
		"ej_epost", "inte_epost", "ikke_email", "ikke_mail",
		"geen_email", "geen e-mail", "niet_mailen", "gecompromitteerde_mailbox",
		"keine_email", "keine e-mail", "nicht_mailen", "kompromittiertes_postfach")
	add(importFieldLine1,
		"address", "address1", "address_1", "address_line_1", "address line 1", "addressline1", "street", "street_address",
		"mailing_address", "postal_address", "street address",
		"adresse", "adresse1", "adresselinje1", "adresselinje 1", "gateadresse", "postadresse", "besøksadresse",
		"adress", "gatuadress", "utdelningsadress", "vejnavn",
		"adres", "straat", "straatnaam", "huisadres", "postadres",
		"anschrift", "strasse", "straße", "straße und hausnummer", "strasse und hausnummer")
	add(importFieldLine2,
		"address2", "address_2", "address_line_2", "address line 2", "addressline2", "c/o", "care_of",
		"adresse2", "adresselinje2", "adresselinje 2", "adress2", "adres2", "adresszusatz", "adreszusatz")
	add(importFieldPostcode,
		"postal_code", "postcode", "post_code", "zip", "zip_code", "zipcode", "zip code",
		"postnummer", "postnr", "post_nr", "postnr.",
		"plz", "postleitzahl")
	add(importFieldCity,
		"city", "town", "locality",
		"poststed", "by", "postort", "ort", "stad",
		"plaats", "woonplaats", "stadt")
	add(importFieldRegion,
		"state", "region", "province", "county", "state_code",
		"fylke", "län", "lan", "provincie", "bundesland")
	return m
}()

// importHeaderKey normalises a header for alias lookup: lower case, with
// spaces, underscores, hyphens and dots removed ("E-post adresse" →
// "epostadresse").
func importHeaderKey(h string) string {
	return strings.Map(func(r rune) rune {
		switch r {
		case ' ', '_', '-', '.', '\t', '\u00a0':
			return -1
		}
		return r
	}, strings.ToLower(strings.TrimSpace(h)))
}

// ImportColumn says how one column of the header is used.
type ImportColumn struct {
	Header string // as written, trimmed
	// Field is the contact field the column fills (id, name, first_name,
	// middle_name, last_name, email, phone, locale, country), "attr" for a
	// template variable or "-" for an ignored column.
	Field string
	// Attr is the template variable name when Field is "attr".
	Attr string
}

// ContactReader turns a contact file into validated contacts one row at a
// time, without a store: Importer uses it, and so can a dry run that only
// checks a file.
type ContactReader struct {
	opt     ImportOptions
	source  string
	text    *csvText
	delim   byte
	rec     *csvRecordReader
	columns []ImportColumn
	index   map[string]int // field → column index, for the single-valued fields
	region  string
}

// NewContactReader reads the header of r and works out what each column
// holds. It fails, before any row is read, when the header has neither an
// e-mail nor a phone column, when opt.Map names a column that is not there
// or a field that does not exist, or when two columns fill the same field.
func NewContactReader(r io.Reader, opt ImportOptions) (*ContactReader, error) {
	cr := &ContactReader{opt: opt, source: opt.Source, index: map[string]int{}}
	if cr.source == "" {
		cr.source = "input"
	}
	if opt.Region != "" {
		reg, err := NormalizeCountry(opt.Region)
		if err != nil || len(strings.TrimSpace(opt.Region)) != 2 {
			return nil, Errorf(EINVALID, "region %q is not a two-letter country code: use e.g. --region NO", opt.Region)
		}
		cr.region = reg
	}
	if opt.Delimiter != 0 {
		if err := csvCheckDelimiter(opt.Delimiter); err != nil {
			return nil, err
		}
	}
	text, err := openCSVText(r, opt.Encoding)
	if err != nil {
		return nil, err
	}
	cr.text = text
	if opt.Delimiter != 0 {
		cr.delim = byte(opt.Delimiter)
	} else if cr.delim, err = csvSniffDelimiter(text.r); err != nil {
		return nil, err
	}
	cr.rec = newCSVRecordReader(text.r, cr.delim)
	var header csvRecord
	for {
		header, err = cr.rec.Next()
		if errors.Is(err, io.EOF) {
			return nil, Errorf(EINVALID, "the file is empty: expected a header row such as navn;e-post;mobil")
		}
		if err != nil {
			return nil, err
		}
		if header.Err != nil {
			return nil, Errorf(EINVALID, "header row %d cannot be read: %s", header.Row, header.Err.Reason)
		}
		if !header.Blank {
			break
		}
	}
	// Some tools end the header with a delimiter too: a nameless last
	// column, which rows may or may not fill with empty values.
	fields := header.Fields
	for len(fields) > 1 && strings.TrimSpace(fields[len(fields)-1]) == "" {
		fields = fields[:len(fields)-1]
	}
	if err := cr.mapHeader(fields); err != nil {
		return nil, err
	}
	cr.rec.fields = len(fields)
	return cr, nil
}

func (cr *ContactReader) mapHeader(header []string) error {
	overrides := map[string]string{} // header key → field
	for col, field := range cr.opt.Map {
		f, ok := importFieldNames[importHeaderKey(field)]
		if strings.TrimSpace(field) == "-" {
			f, ok = importFieldIgnore, true
		}
		if !ok {
			return Errorf(EINVALID, "--map %s=%s: unknown field %q: use id, name, first_name, middle_name, last_name, email, phone, locale, country, email_consent, do_not_email, address_line1, address_line2, postal_code, city, region, attr or -", col, field, field)
		}
		key := importHeaderKey(col)
		found := false
		for _, h := range header {
			if importHeaderKey(h) == key {
				found = true
			}
		}
		if !found {
			return Errorf(EINVALID, "--map %s=%s: there is no column %q in the header (found %s)", col, field, col, importQuoteList(header))
		}
		overrides[key] = f
	}
	attrSeen := map[string]int{}
	for i, h := range header {
		h = strings.TrimSpace(h)
		c := ImportColumn{Header: h}
		key := importHeaderKey(h)
		switch f, ok := overrides[key]; {
		case ok:
			c.Field = f
		case key == "":
			c.Field = importFieldIgnore
		default:
			c.Field = importAliases[key]
			if c.Field == "" {
				c.Field = importFieldAttr
			}
		}
		switch c.Field {
		case importFieldAttr:
			c.Attr = h
			if attrSeen[h]++; attrSeen[h] > 1 {
				c.Attr = fmt.Sprintf("%s#%d", h, attrSeen[h])
			}
		case importFieldIgnore:
		default:
			if j, dup := cr.index[c.Field]; dup {
				return Errorf(EINVALID, "columns %q and %q both hold %s: keep one, e.g. --map %q", cr.columns[j].Header, h, importFieldLabel(c.Field), h+"=-")
			}
			cr.index[c.Field] = i
		}
		cr.columns = append(cr.columns, c)
	}
	_, hasEmail := cr.index[importFieldEmail]
	_, hasPhone := cr.index[importFieldPhone]
	_, hasPostal := cr.index[importFieldLine1]
	if !hasEmail && !hasPhone && !hasPostal {
		example := "Mail adresse"
		for _, c := range cr.columns {
			if c.Field == importFieldAttr {
				example = c.Header
				break
			}
		}
		msg := fmt.Sprintf("no e-mail or phone column found among the headers %s: name them with --map, e.g. --map %q", importQuoteList(header), example+"=email")
		if importLooksLikeData(header) {
			msg = fmt.Sprintf("the first row %s looks like data, not headers: add a header row such as navn;e-post;mobil", importQuoteList(header))
		}
		return Errorf(EINVALID, "%s", msg)
	}
	return nil
}

func importFieldLabel(f string) string {
	switch f {
	case importFieldID:
		return "the external id"
	case importFieldEmail:
		return "the e-mail address"
	case importFieldPhone:
		return "the phone number"
	case importFieldName:
		return "the name"
	case importFieldConsent:
		return "the consent to e-mail"
	case importFieldDoNotEmail:
		return "the do-not-e-mail flag"
	case importFieldLine1:
		return "the street address"
	case importFieldLine2:
		return "the second address line"
	}
	return "the " + strings.ReplaceAll(f, "_", " ")
}

func importQuoteList(hs []string) string {
	q := make([]string, 0, len(hs))
	for _, h := range hs {
		q = append(q, strconv.Quote(strings.TrimSpace(h)))
	}
	if len(q) > 20 {
		q = append(q[:20], "...")
	}
	return strings.Join(q, ", ")
}

// importLooksLikeData reports whether a "header" holds an e-mail address
// or a long number, i.e. the file has no header row.
func importLooksLikeData(header []string) bool {
	for _, h := range header {
		if _, err := NormalizeEmail(h); err == nil {
			return true
		}
		digits := 0
		for _, r := range h {
			if r >= '0' && r <= '9' {
				digits++
			}
		}
		if digits >= 8 {
			return true
		}
	}
	return false
}

// Columns returns how each header column is used, in file order.
func (cr *ContactReader) Columns() []ImportColumn { return slices.Clone(cr.columns) }

// Encoding returns the text encoding the file is read in.
func (cr *ContactReader) Encoding() string { return cr.text.encoding }

// Delimiter returns the field delimiter in use.
func (cr *ContactReader) Delimiter() rune { return rune(cr.delim) }

// LastRow returns the row number of the last record read (1 after the
// header).
func (cr *ContactReader) LastRow() int { return cr.rec.row }

// Next returns the next data row, or io.EOF after the last. Blank rows
// (every cell empty, as spreadsheets export formatted but empty rows) are
// skipped; they still count in the row numbers. Any other error is a read
// error of the underlying reader.
func (cr *ContactReader) Next() (*ImportRow, error) {
	for {
		rec, err := cr.rec.Next()
		if err != nil {
			return nil, err
		}
		if rec.Blank {
			continue
		}
		return cr.row(rec), nil
	}
}

// validatedChunk is a run of consecutive records and, once validated,
// their rows.
type validatedChunk struct {
	recs []csvRecord
	rows chan []*ImportRow // receives the rows once, then is done with
}

// importChunk is how many records a validator takes at a time.
const importChunk = 256

// validated reads the records on one goroutine and validates them on n
// (normalising phone numbers with libphonenumber is most of an import's
// own CPU), and hands the rows back in file order, a chunk at a time.
// Validation runs ahead of the store by a few chunks, so it overlaps the
// store's writes, and memory stays bounded whatever the file's size. The
// channel closes after the last row or at the first read error, which
// err then reports; blank rows are left out, as Next leaves them. Ending
// ctx stops the goroutines. cr must not be read otherwise meanwhile.
func (cr *ContactReader) validated(ctx context.Context, n int) (<-chan []*ImportRow, func() error) {
	n = max(1, n)
	work := make(chan *validatedChunk, n)
	order := make(chan *validatedChunk, 2*n)
	out := make(chan []*ImportRow)
	var readErr error
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			for c := range work {
				rows := make([]*ImportRow, 0, len(c.recs))
				for _, rec := range c.recs {
					if !rec.Blank {
						rows = append(rows, cr.row(rec))
					}
				}
				c.rows <- rows
			}
		})
	}
	go func() { // read
		defer close(order)
		defer close(work)
		for {
			c := &validatedChunk{rows: make(chan []*ImportRow, 1)}
			for len(c.recs) < importChunk {
				rec, err := cr.rec.Next()
				if err != nil {
					if !errors.Is(err, io.EOF) {
						readErr = err
					}
					break
				}
				c.recs = append(c.recs, rec)
			}
			if len(c.recs) > 0 {
				select {
				case order <- c:
				case <-ctx.Done():
					return
				}
				select {
				case work <- c:
				case <-ctx.Done():
					return
				}
			}
			if len(c.recs) < importChunk {
				return
			}
		}
	}()
	go func() { // hand over in order
		defer close(out)
		for c := range order {
			var rows []*ImportRow
			select {
			case rows = <-c.rows:
			case <-ctx.Done():
				return
			}
			select {
			case out <- rows:
			case <-ctx.Done():
				return
			}
		}
	}()
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	return out, func() error {
		<-done // the reader has finished (work is closed) and the validators with it
		return readErr
	}
}

// row validates one record.
func (cr *ContactReader) row(rec csvRecord) *ImportRow {
	out := &ImportRow{Row: rec.Row}
	if rec.Err != nil {
		col := ""
		if rec.Err.Column >= 0 && rec.Err.Column < len(cr.columns) {
			col = cr.columns[rec.Err.Column].Header
		}
		out.Rejects = []Reject{cr.reject(rec, col, rec.Raw, SeverityError, "the row cannot be read: "+rec.Err.Reason)}
		return out
	}
	get := func(field string) (string, string) {
		i, ok := cr.index[field]
		if !ok {
			return "", ""
		}
		return strings.TrimSpace(rec.Fields[i]), cr.columns[i].Header
	}
	ct := &Contact{SourceRow: rec.Row}
	ct.ExternalID, _ = get(importFieldID)
	name, _ := get(importFieldName)
	if name == "" {
		first, _ := get(importFieldFirst)
		middle, _ := get(importFieldMiddle)
		last, _ := get(importFieldLast)
		name = first + " " + middle + " " + last
	}
	ct.Name = strings.Join(strings.Fields(name), " ")

	var warnings []Reject
	region := cr.region
	if v, col := get(importFieldCtry); v != "" {
		if code, err := NormalizeCountry(v); err == nil {
			ct.Country, region = code, code
		} else {
			warnings = append(warnings, cr.reject(rec, col, v, SeverityWarning, importReason(err)+"; imported without a country"))
		}
	}
	if v, col := get(importFieldLocale); v != "" {
		if loc, err := NormalizeLocale(v); err == nil {
			ct.Locale = loc
		} else {
			warnings = append(warnings, cr.reject(rec, col, v, SeverityWarning, importReason(err)+"; imported without a language, so the campaign's default is used"))
		}
	}
	type problem struct{ col, value, reason, what string }
	var bad []problem
	if v, col := get(importFieldEmail); v != "" {
		if e, err := NormalizeEmail(v); err == nil {
			ct.Email = e
		} else {
			bad = append(bad, problem{col, v, importReason(err), "e-mail address"})
		}
	}
	if v, col := get(importFieldPhone); v != "" {
		if p, err := NormalizePhone(v, region); err == nil {
			ct.Phone = p
		} else {
			reason := importReason(err)
			if _, has := cr.index[importFieldCtry]; has && errors.Is(err, ErrNoRegion) {
				reason = "phone number is in national form and the row has no valid country: fill in the country (e.g. NO), pass --region NO, or write the number with its country code (+47 ...)"
			}
			bad = append(bad, problem{col, v, reason, "phone number"})
		}
	}
	warnings = append(warnings, cr.eligibility(rec, get, ct)...)
	if ct.Email == "" && ct.Phone == "" && !ct.Postal.Complete() {
		if len(bad) == 0 {
			col := ""
			if _, c := get(importFieldEmail); c != "" {
				col = c
			} else if _, c := get(importFieldPhone); c != "" {
				col = c
			}
			what := "no e-mail address or phone number"
			if _, ok := cr.index[importFieldLine1]; ok {
				what = "no e-mail address, phone number or complete postal address"
			}
			out.Rejects = []Reject{cr.reject(rec, col, "", SeverityError, what+": fill in at least one so the person can be notified")}
			return out
		}
		other := "e-mail address or phone number"
		if _, ok := cr.index[importFieldLine1]; ok {
			other = "e-mail address, phone number or postal address"
		}
		for _, b := range bad {
			out.Rejects = append(out.Rejects, cr.reject(rec, b.col, b.value, SeverityError, b.reason+"; the row has no other usable "+other+", so it was not imported"))
		}
		return out
	}
	if cr.opt.Strict && len(bad) > 0 {
		for _, b := range bad {
			out.Rejects = append(out.Rejects, cr.reject(rec, b.col, b.value, SeverityError, b.reason+"; not imported (strict mode)"))
		}
		return out
	}
	for _, b := range bad {
		warnings = append(warnings, cr.reject(rec, b.col, b.value, SeverityWarning, b.reason+"; imported without this "+b.what))
	}
	for i, c := range cr.columns {
		if c.Field != importFieldAttr {
			continue
		}
		if ct.Attrs == nil {
			ct.Attrs = make(map[string]string)
		}
		ct.Attrs[c.Attr] = strings.TrimSpace(rec.Fields[i])
	}
	out.Contact = ct
	out.Rejects = warnings
	return out
}

// reject builds a reject for rec. Its hash covers the record's content, the
// column and the severity, not the row number: re-importing the same file,
// or a corrected copy with lines added above, does not record the same
// problem twice, and a row with two problems records both.
func (cr *ContactReader) reject(rec csvRecord, col, value, severity, reason string) Reject {
	h := sha256.New()
	if rec.Fields != nil {
		for _, f := range rec.Fields {
			h.Write([]byte(f))
			h.Write([]byte{0x1f})
		}
	} else {
		h.Write([]byte(rec.Raw))
	}
	rowHash := hex.EncodeToString(h.Sum(nil)[:16])
	h.Write([]byte{0x1e})
	h.Write([]byte(col))
	h.Write([]byte{0x1e})
	h.Write([]byte(severity))
	return Reject{
		Row:      rec.Row,
		Column:   col,
		Value:    importClip(value),
		Reason:   reason,
		Severity: severity,
		Hash:     hex.EncodeToString(h.Sum(nil)[:16]),
		RowHash:  rowHash,
		Source:   cr.source,
	}
}

// importReason is the message of a validation error.
func importReason(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Message
	}
	return err.Error()
}

// importClip shortens a malformed row's text for the reject report.
func importClip(s string) string {
	const limit = 500
	if len(s) <= limit {
		return s
	}
	cut := limit
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}
