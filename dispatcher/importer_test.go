package dispatcher

import (
	"bytes"
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"reflect"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/text/encoding/charmap"
	"golang.org/x/text/encoding/unicode"
)

// importTestStore is an in-memory Store with only what the importer calls;
// any other method panics through the nil embedded interface.
type importTestStore struct {
	Store

	mu           sync.Mutex
	campaign     Campaign
	nextID       int64
	contacts     []Contact
	keys         map[string]bool
	deliveries   map[int64]*Delivery
	rejects      []Reject
	rejectHashes map[string]bool
	runs         []ImportRun
	batchSizes   []int
	calls        []string
	importCalls  int
	failImportAt int             // the ImportContacts call (1-based) that fails
	onImport     func(call int)  // runs at the start of each ImportContacts call
	statusErr    map[string]bool // "SetCampaignStatus" → return ErrStale
}

func newImportTestStore(status CampaignStatus) *importTestStore {
	return &importTestStore{
		campaign:     Campaign{ID: 7, Name: "breach-2025", Policy: Policy{Email, SMS}, Status: status, DefaultLocale: "nb"},
		keys:         map[string]bool{},
		deliveries:   map[int64]*Delivery{},
		rejectHashes: map[string]bool{},
		statusErr:    map[string]bool{},
	}
}

func (s *importTestStore) call(name string) {
	s.calls = append(s.calls, name)
}

func (s *importTestStore) Campaign(_ context.Context, id int64) (*Campaign, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.call("Campaign")
	if id != s.campaign.ID {
		return nil, ErrNotFound
	}
	c := s.campaign
	return &c, nil
}

func (s *importTestStore) SetCampaignStatus(_ context.Context, id int64, from []CampaignStatus, to CampaignStatus, at time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.call("SetCampaignStatus")
	if s.statusErr["SetCampaignStatus"] || !slices.Contains(from, s.campaign.Status) {
		return ErrStale
	}
	s.campaign.Status = to
	return nil
}

func (s *importTestStore) ImportContacts(_ context.Context, campaignID int64, contacts []Contact, plan func(*Contact) []Delivery) (ImportResult, error) {
	s.mu.Lock()
	s.importCalls++
	n := s.importCalls
	hook := s.onImport
	s.mu.Unlock()
	if hook != nil {
		hook(n)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.call("ImportContacts")
	if n == s.failImportAt {
		return ImportResult{}, errors.New("connection reset by peer")
	}
	s.batchSizes = append(s.batchSizes, len(contacts))
	var res ImportResult
	for i := range contacts {
		c := contacts[i]
		if c.CampaignID != campaignID {
			return ImportResult{}, fmt.Errorf("contact for campaign %d in import to %d", c.CampaignID, campaignID)
		}
		key := c.DedupeKey()
		if s.keys[key] {
			res.Duplicates++
			continue
		}
		s.keys[key] = true
		s.nextID++
		c.ID = s.nextID
		s.contacts = append(s.contacts, c)
		res.Inserted++
		for _, d := range plan(&c) {
			s.nextID++
			d.ID = s.nextID
			s.deliveries[d.ID] = &d
			if d.State == StatePending {
				res.Deliveries = append(res.Deliveries, d)
			}
		}
	}
	return res, nil
}

func (s *importTestStore) AddRejects(_ context.Context, _ int64, rejects []Reject) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.call("AddRejects")
	n := 0
	for _, r := range rejects {
		if r.Hash == "" {
			return 0, errors.New("reject without hash")
		}
		if s.rejectHashes[r.Hash] {
			continue
		}
		s.rejectHashes[r.Hash] = true
		s.rejects = append(s.rejects, r)
		n++
	}
	return n, nil
}

func (s *importTestStore) RecordImport(_ context.Context, r *ImportRun) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.call("RecordImport")
	s.runs = append(s.runs, *r)
	return nil
}

func (s *importTestStore) CancelUnsent(_ context.Context, _ int64, _ time.Time) (int64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.call("CancelUnsent")
	var n int64
	for _, d := range s.deliveries {
		if d.State == StatePending || d.State == StateQueued {
			d.State = StateCancelled
			n++
		}
	}
	return n, nil
}

func (s *importTestStore) byExternalID() map[string]Contact {
	m := map[string]Contact{}
	for _, c := range s.contacts {
		m[c.ExternalID] = c
	}
	return m
}

var importTestNow = time.Date(2025, 3, 4, 10, 0, 0, 0, time.UTC)

func importTest(t testing.TB, st *importTestStore, in []byte, opt ImportOptions) (*ImportRun, error) {
	t.Helper()
	im := &Importer{Store: st, Now: func() time.Time { return importTestNow }}
	c, err := st.Campaign(context.Background(), st.campaign.ID)
	if err != nil {
		t.Fatal(err)
	}
	if opt.Source == "" {
		opt.Source = "contacts.csv"
	}
	return im.Import(context.Background(), c, bytes.NewReader(in), opt)
}

func importTestCheckCounts(t testing.TB, run *ImportRun) {
	t.Helper()
	if run.Read != run.Accepted+run.Rejected+run.Duplicates {
		t.Fatalf("Read %d != Accepted %d + Rejected %d + Duplicates %d", run.Read, run.Accepted, run.Rejected, run.Duplicates)
	}
}

const importTestNordic = "ansattnr;navn;e-post;mobil;land;språk;rolle\n" +
	"1001;Bjørn Håkon Ødegård;bjorn.odegard@example.no;912 34 567;NO;nb;tidligere ansatt\n" +
	"1002;Åse Kværnø;ase.kvaerno@Example.NO;;Norge;nn;ansatt\n" +
	"1003;Zoë de Vries;zoe.devries@example.nl;06-12345678;NL;nl_NL;kunde\n" +
	"1004;José Müller-Lefèvre;jose@example.com;+44 7400 123456;;en-GB;kunde\n"

func importTestNordicWant() []Contact {
	return []Contact{
		{ExternalID: "1001", Name: "Bjørn Håkon Ødegård", Email: "bjorn.odegard@example.no", Phone: "+4791234567", Country: "NO", Locale: "nb", Attrs: map[string]string{"rolle": "tidligere ansatt"}, SourceRow: 2},
		{ExternalID: "1002", Name: "Åse Kværnø", Email: "ase.kvaerno@example.no", Country: "NO", Locale: "nn", Attrs: map[string]string{"rolle": "ansatt"}, SourceRow: 3},
		{ExternalID: "1003", Name: "Zoë de Vries", Email: "zoe.devries@example.nl", Phone: "+31612345678", Country: "NL", Locale: "nl-nl", Attrs: map[string]string{"rolle": "kunde"}, SourceRow: 4},
		{ExternalID: "1004", Name: "José Müller-Lefèvre", Email: "jose@example.com", Phone: "+447400123456", Locale: "en-gb", Attrs: map[string]string{"rolle": "kunde"}, SourceRow: 5},
	}
}

// importTestStrip clears what the store assigns, for comparing contacts.
func importTestStrip(cs []Contact) []Contact {
	out := slices.Clone(cs)
	for i := range out {
		out[i].ID, out[i].CampaignID = 0, 0
	}
	return out
}

func TestImportEncodingsRoundTrip(t *testing.T) {
	crlf := strings.ReplaceAll(importTestNordic, "\n", "\r\n")
	tests := []struct {
		name     string
		in       []byte
		encoding string
		want     string
	}{
		{"utf-8", []byte(importTestNordic), "", EncodingUTF8},
		{"utf-8 BOM CRLF", append([]byte("\xEF\xBB\xBF"), crlf...), "", EncodingUTF8},
		{"windows-1252", csvTestEncode(t, charmap.Windows1252, crlf), "", EncodingWindows1252},
		{"iso-8859-1 given", csvTestEncode(t, charmap.ISO8859_1, importTestNordic), "iso-8859-1", EncodingISO88591},
		{"iso-8859-1 sniffed", csvTestEncode(t, charmap.ISO8859_1, importTestNordic), "", EncodingWindows1252},
		{"utf-16le BOM", csvTestEncode(t, unicode.UTF16(unicode.LittleEndian, unicode.UseBOM), crlf), "", EncodingUTF16LE},
		{"comma delimited", []byte(strings.NewReplacer(";", ",").Replace(importTestNordic)), "", EncodingUTF8},
		{"tab delimited", []byte(strings.NewReplacer(";", "\t").Replace(importTestNordic)), "", EncodingUTF8},
		{"excel sep line", []byte("sep=;\n" + importTestNordic), "", EncodingUTF8},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cr, err := NewContactReader(bytes.NewReader(tt.in), ImportOptions{Encoding: tt.encoding})
			if err != nil {
				t.Fatal(err)
			}
			if cr.Encoding() != tt.want {
				t.Errorf("encoding %q, want %q", cr.Encoding(), tt.want)
			}
			st := newImportTestStore(CampaignDraft)
			run, err := importTest(t, st, tt.in, ImportOptions{Encoding: tt.encoding})
			if err != nil {
				t.Fatal(err)
			}
			importTestCheckCounts(t, run)
			if run.Accepted != 4 || run.Rejected != 0 || run.Warnings != 0 {
				t.Errorf("run %+v, want 4 accepted and nothing else", run)
			}
			if got, want := importTestStrip(st.contacts), importTestNordicWant(); !reflect.DeepEqual(got, want) {
				t.Errorf("contacts\n got %+v\nwant %+v", got, want)
			}
		})
	}
}

func TestImportHeaderMapping(t *testing.T) {
	tests := []struct {
		name   string
		opt    ImportOptions
		header string
		row    string
		want   Contact
	}{
		{name: "english", header: "External ID,Full Name,E-mail Address,Mobile Phone,Country Code,Language,Department",
			row:  "E-17,Oliver Smith,oliver@example.com,07400 123456,GB,en,Radiology",
			want: Contact{ExternalID: "E-17", Name: "Oliver Smith", Email: "oliver@example.com", Phone: "+447400123456", Country: "GB", Locale: "en", Attrs: map[string]string{"Department": "Radiology"}}},
		{name: "norwegian split names", header: "Ansattnummer;Fornavn;Mellomnavn;Etternavn;E-post;Mobilnummer;Landkode;Språk",
			row:  "1001;Bjørn;Håkon;Ødegård;bjorn@example.no;912 34 567;no;NB",
			want: Contact{ExternalID: "1001", Name: "Bjørn Håkon Ødegård", Email: "bjorn@example.no", Phone: "+4791234567", Country: "NO", Locale: "nb"}},
		{name: "dutch infix", header: "Personeelsnummer;Voornaam;Tussenvoegsel;Achternaam;E-mailadres;Telefoonnummer;Land;Taal",
			row:  "P-3;IJsbrand;van der;Bijl;ijsbrand@example.nl;06 12345678;Nederland;nl",
			want: Contact{ExternalID: "P-3", Name: "IJsbrand van der Bijl", Email: "ijsbrand@example.nl", Phone: "+31612345678", Country: "NL", Locale: "nl"}},
		{name: "dutch no infix", header: "klantnummer;voornaam;tussenvoegsel;achternaam;e-mail;mobiel",
			row:  "K1;Marijke;;Dijkstra;marijke@example.nl;+31 6 12345678",
			want: Contact{ExternalID: "K1", Name: "Marijke Dijkstra", Email: "marijke@example.nl", Phone: "+31612345678"}},
		{name: "swedish", header: "Anställningsnummer;Förnamn;Efternamn;E-post;Mobil;Land;Sprak",
			row:  "S9;Märta;Åström;marta@example.se;070-123 45 67;Sverige;sv",
			want: Contact{ExternalID: "S9", Name: "Märta Åström", Email: "marta@example.se", Phone: "+46701234567", Country: "SE", Locale: "sv"}},
		{name: "danish", header: "Medarbejdernummer;Fornavn;Efternavn;E-mail;Mobilnummer;Land;Sprog",
			row:  "D2;Søren;Kierkegård;soren@example.dk;+45 20 12 34 56;DK;da",
			want: Contact{ExternalID: "D2", Name: "Søren Kierkegård", Email: "soren@example.dk", Phone: "+4520123456", Country: "DK", Locale: "da"}},
		{name: "german", header: "Personalnummer;Vorname;Nachname;E-Mail-Adresse;Handynummer;Land;Sprache",
			row:  "G5;Jürgen;Müller;juergen@example.de;+49 151 23456789;Deutschland;de",
			want: Contact{ExternalID: "G5", Name: "Jürgen Müller", Email: "juergen@example.de", Phone: "+4915123456789", Country: "DE", Locale: "de"}},
		{name: "patient ids and cell", header: "patient_id,first_name,last_name,email,cell,country",
			row:  "MRN-0042,Amelia,Jones,amelia@example.com,(201) 555-0123,US",
			want: Contact{ExternalID: "MRN-0042", Name: "Amelia Jones", Email: "amelia@example.com", Phone: "+12015550123", Country: "US"}},
		{name: "name column wins over parts", header: "navn;fornavn;etternavn;epost",
			row:  "Kari  Nordmann;K.;N.;kari@example.no",
			want: Contact{Name: "Kari Nordmann", Email: "kari@example.no"}},
		{name: "parts used when name is empty", header: "navn;fornavn;etternavn;epost",
			row:  ";Kari;Nordmann;kari@example.no",
			want: Contact{Name: "Kari Nordmann", Email: "kari@example.no"}},
		{name: "map overrides", opt: ImportOptions{Map: map[string]string{"mail adresse": "email", "Tlf privat": "phone", "Kommentar": "-", "Nr": "id", "navn": "attr"}},
			header: "Nr;Navn;Mail adresse;Tlf privat;Kommentar",
			row:    "77;Ola;ola@example.no;+47 912 34 567;ring etter kl 16",
			want:   Contact{ExternalID: "77", Email: "ola@example.no", Phone: "+4791234567", Attrs: map[string]string{"Navn": "Ola"}}},
		{name: "map resolves two phone columns", opt: ImportOptions{Map: map[string]string{"telefon": "-"}},
			header: "navn,mobil,telefon,epost",
			row:    "Ola,+4791234567,+4722334455,ola@example.no",
			want:   Contact{Name: "Ola", Email: "ola@example.no", Phone: "+4791234567"}},
		{name: "attr keys are headers as written, trimmed; repeats numbered", header: "e-post; Rolle ;Notat;Notat;",
			row:  "ola@example.no; ansatt ;a;b;",
			want: Contact{Email: "ola@example.no", Attrs: map[string]string{"Rolle": "ansatt", "Notat": "a", "Notat#2": "b"}}},
		{name: "header ending in a delimiter", header: "navn;epost;", row: "Ola;ola@example.no",
			want: Contact{Name: "Ola", Email: "ola@example.no"}},
		{name: "phone only", header: "tlf", row: "+47 912 34 567", want: Contact{Phone: "+4791234567"}},
		{name: "region for national numbers", opt: ImportOptions{Region: "nl"}, header: "gsm", row: "06 12345678", want: Contact{Phone: "+31612345678"}},
		{name: "row country beats region", opt: ImportOptions{Region: "NO"}, header: "gsm;land", row: "06 12345678;NL", want: Contact{Phone: "+31612345678", Country: "NL"}},
		{name: "quoted values", header: `"Navn","E-post","Notat"`, row: `"Nordmann, Ola","ola@example.no","sa ""hei"""`,
			want: Contact{Name: "Nordmann, Ola", Email: "ola@example.no", Attrs: map[string]string{"Notat": `sa "hei"`}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := newImportTestStore(CampaignDraft)
			run, err := importTest(t, st, []byte(tt.header+"\n"+tt.row+"\n"), tt.opt)
			if err != nil {
				t.Fatal(err)
			}
			if run.Accepted != 1 || run.Warnings != 0 {
				t.Fatalf("run %+v, rejects %+v: want one clean row", run, st.rejects)
			}
			tt.want.SourceRow = 2
			if got := importTestStrip(st.contacts)[0]; !reflect.DeepEqual(got, tt.want) {
				t.Errorf("contact\n got %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func TestImportHeaderErrors(t *testing.T) {
	tests := []struct {
		name string
		in   string
		opt  ImportOptions
		want []string
	}{
		{"no channel column", "Navn;Kontakt privat;Rolle\nOla;ola@example.no;ansatt\n", ImportOptions{},
			[]string{`"Navn", "Kontakt privat", "Rolle"`, `--map "Kontakt privat=email"`}},
		{"no header row", "Ola;ola@example.no;ansatt\n", ImportOptions{}, []string{"looks like data", "header row"}},
		{"empty file", "", ImportOptions{}, []string{"empty"}},
		{"only blank lines", "\n\n;;\n", ImportOptions{}, []string{"empty"}},
		{"map names a missing column", "navn;epost\n", ImportOptions{Map: map[string]string{"mobil": "phone"}}, []string{`no column "mobil"`, `"navn", "epost"`}},
		{"map names an unknown field", "navn;epost\n", ImportOptions{Map: map[string]string{"navn": "fullname2"}}, []string{`unknown field "fullname2"`}},
		{"two e-mail columns", "epost;e-mail\n", ImportOptions{}, []string{`"epost" and "e-mail"`, `--map "e-mail=-"`}},
		{"bad region", "epost\n", ImportOptions{Region: "Norway"}, []string{"two-letter", "--region NO"}},
		{"bad delimiter", "epost\n", ImportOptions{Delimiter: '"'}, []string{"delimiter"}},
		{"bad encoding", "epost\n", ImportOptions{Encoding: "klingon"}, []string{"unknown encoding"}},
		{"broken header", "\"epost;navn\n", ImportOptions{}, []string{"header row 1", "not closed"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := newImportTestStore(CampaignDraft)
			st.calls = nil
			_, err := importTest(t, st, []byte(tt.in), tt.opt)
			if err == nil {
				t.Fatal("import succeeded, want an error")
			}
			if ErrorCode(err) != EINVALID {
				t.Errorf("code %q, want %q (%v)", ErrorCode(err), EINVALID, err)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
			if !strings.HasPrefix(err.Error(), "import contacts.csv: ") {
				t.Errorf("error %q does not name the file", err)
			}
			if len(st.calls) != 1 { // only the test's own Campaign call
				t.Errorf("store calls %v before the header was accepted", st.calls)
			}
		})
	}
}

func TestImportBadRowsKeepGoodRows(t *testing.T) {
	in := "ansattnr;navn;e-post;mobil;land\n" + // row 1
		"1;Ola;ola@example.no;+47 912 34 567;NO\n" + // 2 ok
		"2;\"Kari\nNordmann\";kari@example.no;;NO\n" + // 3 ok: a two-line value is one row
		"3;Per;per@example;+47 41234567;NO\n" + // 4 warning: bad e-mail, has phone
		"4;\"Anne;anne@example.no;;NO\n" + // 5 error: unterminated quote
		"5;Siv;siv@example.no;123;NO\n" + // 6 warning: bad phone
		"6;Tor;tor@example.no;;NO;extra\n" + // 7 error: too many fields
		"7;Liv;;;NO\n" + // 8 error: no channel
		"8;Geir;geir@exa mple.no;12;NO\n" + // 9 error: both bad
		"\n" + // 10 blank, skipped
		"9;Eva;eva@example.no\n" + // 11 error: too few fields
		"10;Dag;;912 34 567;\n" + // 12 error: national number, no country
		"11;Eli;eli@example.no;;Narnia\n" + // 13 warning: bad country
		"12;Jon;\"jon@example.no\"x;;NO\n" + // 14 error: text after quote
		"13;Mia;mia@example.no;;NO\n" // 15 ok
	var report bytes.Buffer
	st := newImportTestStore(CampaignDraft)
	run, err := importTest(t, st, []byte(in), ImportOptions{Rejects: &report, BatchSize: 3})
	if err != nil {
		t.Fatal(err)
	}
	importTestCheckCounts(t, run)
	want := ImportRun{CampaignID: 7, Source: "contacts.csv", Read: 13, Accepted: 6, Rejected: 7, Warnings: 3, StartedAt: importTestNow, FinishedAt: importTestNow}
	if *run != want {
		t.Errorf("run\n got %+v\nwant %+v", *run, want)
	}
	var ids []string
	for _, c := range st.contacts {
		ids = append(ids, c.ExternalID)
	}
	if want := []string{"1", "2", "3", "5", "11", "13"}; !slices.Equal(ids, want) {
		t.Errorf("imported %v, want %v", ids, want)
	}
	byID := st.byExternalID()
	if c := byID["2"]; c.Name != "Kari Nordmann" || c.SourceRow != 3 {
		t.Errorf("multi-line row: %+v", c)
	}
	if c := byID["3"]; c.Email != "" || c.Phone != "+4741234567" {
		t.Errorf("row with bad e-mail: %+v", c)
	}
	if c := byID["13"]; c.SourceRow != 15 {
		t.Errorf("last row has SourceRow %d, want 15", c.SourceRow)
	}

	type rj struct {
		Row      int
		Column   string
		Severity string
		Reason   string
	}
	wantRejects := []rj{
		{4, "e-post", SeverityWarning, "no dot in the domain"},
		{5, "", SeverityError, "not closed properly"},
		{6, "mobil", SeverityWarning, "too few digits"},
		{7, "", SeverityError, "6 fields but the header has 5"},
		{8, "e-post", SeverityError, "no e-mail address or phone number"},
		{9, "e-post", SeverityError, "contains a space"},
		{9, "mobil", SeverityError, "too few digits"},
		{11, "", SeverityError, "3 fields but the header has 5"},
		{12, "mobil", SeverityError, "fill in the country"},
		{13, "land", SeverityWarning, "not an ISO 3166"},
		{14, "e-post", SeverityError, "after the closing quote"},
	}
	if len(st.rejects) != len(wantRejects) {
		t.Fatalf("stored %d rejects, want %d: %+v", len(st.rejects), len(wantRejects), st.rejects)
	}
	for i, w := range wantRejects {
		g := st.rejects[i]
		if g.Row != w.Row || g.Column != w.Column || g.Severity != w.Severity || !strings.Contains(g.Reason, w.Reason) || g.Source != "contacts.csv" {
			t.Errorf("reject %d = %+v, want %+v", i, g, w)
		}
	}
	if st.rejects[0].Value != "per@example" || st.rejects[1].Value != `4;"Anne;anne@example.no;;NO` {
		t.Errorf("reject values %q, %q", st.rejects[0].Value, st.rejects[1].Value)
	}
	if st.rejects[7].Hash == st.rejects[8].Hash {
		t.Error("two problems in one row share a hash: the store would drop one")
	}

	// The CSV report holds the same rows.
	recs, err := csv.NewReader(&report).ReadAll()
	if err != nil {
		t.Fatalf("reject report is not CSV: %v", err)
	}
	if !slices.Equal(recs[0], []string{"row", "column", "value", "severity", "reason"}) {
		t.Errorf("report header %q", recs[0])
	}
	if len(recs) != len(wantRejects)+1 {
		t.Fatalf("report has %d rows, want %d", len(recs)-1, len(wantRejects))
	}
	for i, r := range recs[1:] {
		g := st.rejects[i]
		if want := []string{fmt.Sprint(g.Row), g.Column, g.Value, g.Severity, g.Reason}; !slices.Equal(r, want) {
			t.Errorf("report row %d = %q, want %q", i, r, want)
		}
	}

	// Importing the same file again adds no contacts and no rejects.
	run2, err := importTest(t, st, []byte(in), ImportOptions{BatchSize: 3})
	if err != nil {
		t.Fatal(err)
	}
	importTestCheckCounts(t, run2)
	if run2.Accepted != 0 || run2.Duplicates != 6 || run2.Rejected != 7 || len(st.rejects) != len(wantRejects) || len(st.runs) != 2 {
		t.Errorf("re-import: run %+v, %d rejects stored", run2, len(st.rejects))
	}
}

func TestImportRegionAdvice(t *testing.T) {
	tests := []struct {
		name, in, region, want string
	}{
		{"no country column", "epost;mobil\na@example.no;912 34 567\n", "", "add a country column"},
		{"empty country", "epost;mobil;land\na@example.no;912 34 567;\n", "", "fill in the country"},
		{"invalid country", "epost;mobil;land\na@example.no;912 34 567;Atlantis\n", "", "fill in the country"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := newImportTestStore(CampaignDraft)
			run, err := importTest(t, st, []byte(tt.in), ImportOptions{Region: tt.region})
			if err != nil {
				t.Fatal(err)
			}
			if run.Accepted != 1 || run.Warnings != 1 {
				t.Fatalf("run %+v", run)
			}
			var found bool
			for _, r := range st.rejects {
				found = found || r.Column == "mobil" && strings.Contains(r.Reason, tt.want) && strings.Contains(r.Reason, "--region")
			}
			if !found {
				t.Errorf("no phone warning mentioning %q and --region in %+v", tt.want, st.rejects)
			}
		})
	}
}

func TestImportStrict(t *testing.T) {
	in := "id,email,phone\n" +
		"1,ola@example,+4791234567\n" + // bad e-mail
		"2,kari@example.no,123\n" + // bad phone
		"3,per@example.no,+4741234567\n" + // fine
		"4,siv@example.no,\n" // fine
	for _, strict := range []bool{false, true} {
		t.Run(fmt.Sprint("strict=", strict), func(t *testing.T) {
			st := newImportTestStore(CampaignDraft)
			run, err := importTest(t, st, []byte(in), ImportOptions{Strict: strict})
			if err != nil {
				t.Fatal(err)
			}
			importTestCheckCounts(t, run)
			wantAccepted, wantRejected, wantWarnings, wantSeverity := 4, 0, 2, SeverityWarning
			if strict {
				wantAccepted, wantRejected, wantWarnings, wantSeverity = 2, 2, 0, SeverityError
			}
			if run.Accepted != wantAccepted || run.Rejected != wantRejected || run.Warnings != wantWarnings {
				t.Errorf("run %+v", run)
			}
			if len(st.rejects) != 2 {
				t.Fatalf("rejects %+v", st.rejects)
			}
			for _, r := range st.rejects {
				if r.Severity != wantSeverity || strict && !strings.Contains(r.Reason, "strict") {
					t.Errorf("reject %+v", r)
				}
			}
		})
	}
}

func TestImportDuplicates(t *testing.T) {
	in := "ansattnr;navn;epost;mobil\n" +
		"1;Ola;ola@example.no;\n" +
		"2;Kari;kari@example.no;\n" +
		"1;Ola igjen;ola.ny@example.no;\n" + // same external id
		";Per;per@example.no;\n" +
		";Per;PER@Example.no;\n" + // same e-mail, no id
		";;;+4791234567\n" +
		";;;0047 912 34 567\n" + // same phone
		"2;Kari;kari@example.no;\n"
	st := newImportTestStore(CampaignDraft)
	run, err := importTest(t, st, []byte(in), ImportOptions{BatchSize: 2})
	if err != nil {
		t.Fatal(err)
	}
	importTestCheckCounts(t, run)
	if run.Read != 8 || run.Accepted != 4 || run.Duplicates != 4 {
		t.Errorf("run %+v", run)
	}
	if c := st.byExternalID()["1"]; c.Email != "ola@example.no" {
		t.Errorf("the first row of a person wins: %+v", c)
	}
}

func TestImportIntoCampaignStates(t *testing.T) {
	// Row 3 has no e-mail: its e-mail delivery is skipped and SMS pending.
	// The importer queues nothing itself: the deliveries are pending, and
	// the workers' feeder hands those of running campaigns to the queue.
	// A completed campaign that gains people runs again.
	in := "id;epost;mobil\n1;a@example.no;\n2;b@example.no;+4791234567\n3;;+4741234567\n4;;\n5;e@example.no;\n"
	tests := []struct {
		status     CampaignStatus
		wantStatus CampaignStatus
	}{
		{CampaignDraft, CampaignDraft},
		{CampaignPaused, CampaignPaused},
		{CampaignRunning, CampaignRunning},
		{CampaignCompleted, CampaignRunning},
	}
	for _, tt := range tests {
		t.Run(string(tt.status), func(t *testing.T) {
			st := newImportTestStore(tt.status)
			run, err := importTest(t, st, []byte(in), ImportOptions{BatchSize: 2})
			if err != nil {
				t.Fatal(err)
			}
			if run.Accepted != 4 || run.Rejected != 1 {
				t.Fatalf("run %+v", run)
			}
			pending := 0
			for _, d := range st.deliveries {
				switch d.State {
				case StatePending:
					pending++
				case StateSkipped:
				default:
					t.Errorf("delivery %d is %s after import", d.ID, d.State)
				}
			}
			if pending != 4 {
				t.Fatalf("%d deliveries pending, want 4", pending)
			}
			if st.campaign.Status != tt.wantStatus {
				t.Errorf("campaign status %s, want %s", st.campaign.Status, tt.wantStatus)
			}
		})
	}
}

func TestImportCancelledCampaign(t *testing.T) {
	in := "id;epost\n1;a@example.no\n2;b@example.no\n3;c@example.no\n4;d@example.no\n"
	t.Run("before", func(t *testing.T) {
		st := newImportTestStore(CampaignCancelled)
		st.calls = nil
		_, err := importTest(t, st, []byte(in), ImportOptions{})
		if ErrorCode(err) != ECONFLICT || len(st.contacts) != 0 {
			t.Fatalf("err %v (%s), %d contacts", err, ErrorCode(err), len(st.contacts))
		}
	})
	t.Run("during", func(t *testing.T) {
		st := newImportTestStore(CampaignRunning)
		st.onImport = func(call int) {
			if call == 2 {
				st.mu.Lock()
				st.campaign.Status = CampaignCancelled
				st.mu.Unlock()
			}
		}
		_, err := importTest(t, st, []byte(in), ImportOptions{BatchSize: 2})
		if ErrorCode(err) != ECONFLICT || !strings.Contains(err.Error(), "cancelled") || !strings.Contains(err.Error(), "rows 4-5") {
			t.Fatalf("err %v (%s)", err, ErrorCode(err))
		}
		if !slices.Contains(st.calls, "CancelUnsent") {
			t.Errorf("calls %v", st.calls)
		}
		for _, d := range st.deliveries {
			if d.State == StatePending {
				t.Errorf("delivery %d left pending in a cancelled campaign", d.ID)
			}
		}
	})
}

func TestImportStoreFailureResumes(t *testing.T) {
	in := "id;epost\n1;a@example.no\n2;b@example.no\n3;c@example.no\n4;d@example.no\n5;e@example.no\n"
	st := newImportTestStore(CampaignDraft)
	st.failImportAt = 2
	_, err := importTest(t, st, []byte(in), ImportOptions{BatchSize: 2})
	if err == nil {
		t.Fatal("import succeeded despite a store failure")
	}
	for _, w := range []string{"import contacts.csv rows 4-5", "connection reset by peer", "rows before 4 are stored", "run the same import again"} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q does not mention %q", err, w)
		}
	}
	if len(st.contacts) != 2 || len(st.runs) != 0 {
		t.Fatalf("after failure: %d contacts, %d runs", len(st.contacts), len(st.runs))
	}
	st.failImportAt = 0
	run, err := importTest(t, st, []byte(in), ImportOptions{BatchSize: 2})
	if err != nil {
		t.Fatal(err)
	}
	importTestCheckCounts(t, run)
	if run.Accepted != 3 || run.Duplicates != 2 || len(st.contacts) != 5 {
		t.Errorf("resume: run %+v, %d contacts", run, len(st.contacts))
	}
}

// importTestRows is a reader of n generated rows that records how much of
// it has been read.
type importTestRows struct {
	n, next int
	buf     []byte
	read    atomic.Int64 // the import reads on a goroutine of its own
}

func (r *importTestRows) Read(p []byte) (int, error) {
	for len(r.buf) < len(p) && r.next <= r.n {
		if r.next == 0 {
			r.buf = append(r.buf, "ansattnr;navn;e-post;mobil;land;språk;rolle\n"...)
		} else {
			r.buf = fmt.Appendf(r.buf, "%d;Bjørn Ødegård %d;bjorn.%d@example.no;+47 9%07d;NO;nb;ansatt\n", r.next, r.next, r.next, r.next)
		}
		r.next++
	}
	if len(r.buf) == 0 {
		return 0, io.EOF
	}
	n := copy(p, r.buf)
	r.buf = r.buf[n:]
	r.read.Add(int64(n))
	return n, nil
}

func TestImportStreams(t *testing.T) {
	const rows, batch = 8000, 200
	src := &importTestRows{n: rows}
	st := newImportTestStore(CampaignDraft)
	var readAtFirstBatch int64 = -1
	st.onImport = func(call int) {
		if call == 1 {
			readAtFirstBatch = src.read.Load()
		}
	}
	var progress []int64
	im := &Importer{Store: st}
	run, err := im.Import(context.Background(), &st.campaign, src, ImportOptions{BatchSize: batch, Progress: func(n int64) { progress = append(progress, n) }})
	if err != nil {
		t.Fatal(err)
	}
	if run.Accepted != rows {
		t.Fatalf("run %+v", run)
	}
	if readAtFirstBatch <= 0 || readAtFirstBatch > src.read.Load()/2 {
		t.Errorf("first batch stored after reading %d of %d bytes: the import does not stream", readAtFirstBatch, src.read.Load())
	}
	if m := slices.Max(st.batchSizes); m > batch || len(st.batchSizes) != rows/batch {
		t.Errorf("batches %v", st.batchSizes)
	}
	if len(progress) < rows/batch || !slices.IsSorted(progress) || progress[len(progress)-1] != src.read.Load() {
		t.Errorf("progress %v, want a rising count ending at %d", progress, src.read.Load())
	}
}

func TestImportLogsNoPersonalData(t *testing.T) {
	var logs bytes.Buffer
	st := newImportTestStore(CampaignRunning)
	im := &Importer{Store: st,
		Logger: slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug,
			// Times and durations are digits that could match a number fragment by chance.
			ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
				if a.Key == slog.TimeKey || a.Key == "duration" {
					return slog.Attr{}
				}
				return a
			}}))}
	in := importTestNordic + "1005;Kari Nordmann;kari@bad;+47 123;NO;nb;ansatt\n"
	if _, err := im.Import(context.Background(), &st.campaign, strings.NewReader(in), ImportOptions{Source: "contacts.csv"}); err != nil {
		t.Fatal(err)
	}
	if logs.Len() == 0 {
		t.Fatal("nothing logged")
	}
	for _, secret := range []string{"Bjørn", "Ødegård", "Kari", "example", "@", "912", "4791234567", "+47", "tidligere", "ansatt"} {
		if strings.Contains(logs.String(), secret) {
			t.Errorf("log contains %q:\n%s", secret, logs.String())
		}
	}
}

func TestImportContextCancelled(t *testing.T) {
	st := newImportTestStore(CampaignDraft)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	im := &Importer{Store: st}
	_, err := im.Import(ctx, &st.campaign, strings.NewReader(importTestNordic), ImportOptions{})
	if !errors.Is(err, context.Canceled) || len(st.contacts) != 0 {
		t.Fatalf("err %v, %d contacts", err, len(st.contacts))
	}
}

func TestImportReadError(t *testing.T) {
	st := newImportTestStore(CampaignDraft)
	boom := errors.New("input/output error")
	// Past the 64 KiB the reader looks at before the first row.
	rows := strings.Repeat("1;Ola;ola@example.no;;NO;nb;ansatt\n", 4000)
	r := io.MultiReader(strings.NewReader(importTestNordic+rows), csvTestErrReader{boom})
	_, err := (&Importer{Store: st}).Import(context.Background(), &st.campaign, r, ImportOptions{Source: "x.csv"})
	if !errors.Is(err, boom) || !strings.Contains(err.Error(), "import x.csv row 4006: ") {
		t.Fatalf("err %v", err)
	}
	_, err = (&Importer{Store: st}).Import(context.Background(), &st.campaign,
		io.MultiReader(strings.NewReader(importTestNordic), csvTestErrReader{boom}), ImportOptions{Source: "x.csv"})
	if !errors.Is(err, boom) || !strings.HasPrefix(err.Error(), "import x.csv: ") {
		t.Fatalf("err %v", err)
	}
}

func FuzzImportCSV(f *testing.F) {
	f.Add([]byte(importTestNordic), uint8(0))
	f.Add(csvTestEncode(f, charmap.Windows1252, importTestNordic), uint8(2))
	f.Add([]byte("email\na@b.no\n\"\n"), uint8(1))
	f.Add([]byte("sep=,\nphone,land\n912 34 567,NO\n\"1,2\"\n"), uint8(0))
	f.Add([]byte("\xFF\xFEe\x00m\x00a\x00i\x00l\x00\n\x00"), uint8(0))
	f.Add([]byte("navn;epost;mobil\r\"a\r\nb\";x@y.no;\r;;\r"), uint8(3))
	f.Fuzz(func(t *testing.T, in []byte, mode uint8) {
		st := newImportTestStore(CampaignRunning)
		opt := ImportOptions{BatchSize: int(mode%4) + 1, Strict: mode&4 != 0}
		if mode&8 != 0 {
			opt.Region = "NO"
		}
		var report bytes.Buffer
		opt.Rejects = &report
		run, err := importTest(t, st, in, opt)
		if err != nil {
			if ErrorCode(err) != EINVALID {
				t.Fatalf("import failed with %v (code %s)", err, ErrorCode(err))
			}
			return
		}
		importTestCheckCounts(t, run)
		if len(st.contacts) != run.Accepted || len(st.runs) != 1 {
			t.Fatalf("run %+v but %d contacts stored", run, len(st.contacts))
		}
		last := 1
		for _, c := range st.contacts {
			if c.Email == "" && c.Phone == "" && !c.Postal.Complete() {
				t.Fatalf("contact without a channel: %+v", c)
			}
			if c.SourceRow <= last {
				t.Fatalf("source rows not increasing: %d after %d", c.SourceRow, last)
			}
			last = c.SourceRow
			if c.Email != "" {
				if e, err := NormalizeEmail(c.Email); err != nil || e != c.Email {
					t.Fatalf("stored e-mail %q does not re-validate: %q %v", c.Email, e, err)
				}
			}
		}
		for _, r := range st.rejects {
			if r.Row < 2 || r.Hash == "" || r.Reason == "" || (r.Severity != SeverityError && r.Severity != SeverityWarning) {
				t.Fatalf("bad reject %+v", r)
			}
		}
		if _, err := csv.NewReader(&report).ReadAll(); err != nil {
			t.Fatalf("reject report is not CSV: %v", err)
		}
	})
}

// BenchmarkParse measures reading, validating and normalising rows without
// a store: the importer's own cost per row.
func BenchmarkParse(b *testing.B) {
	var buf bytes.Buffer
	buf.WriteString("ansattnr;navn;e-post;mobil;land;språk;rolle\n")
	const rows = 10000
	for i := range rows {
		switch i % 4 {
		case 0:
			fmt.Fprintf(&buf, "%d;Bjørn Håkon Ødegård;bjorn.%d@Example.NO;912 %02d %03d;NO;nb;ansatt\n", i, i, i%100, i%1000)
		case 1:
			fmt.Fprintf(&buf, "%d;\"Dijkstra, Marijke\";marijke.%d@example.nl;06-1234%04d;Nederland;nl_NL;kunde\n", i, i, i%10000)
		case 2:
			fmt.Fprintf(&buf, "%d;Oliver Smith;oliver.%d@example.com;+44 7400 1%05d;UK;en-GB;tidligere ansatt\n", i, i, i%100000)
		default:
			fmt.Fprintf(&buf, "%d;Åse Kværnø;;+47 4%07d;;nn;ansatt\n", i, i)
		}
	}
	data := buf.Bytes()
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		cr, err := NewContactReader(bytes.NewReader(data), ImportOptions{})
		if err != nil {
			b.Fatal(err)
		}
		n := 0
		for {
			row, err := cr.Next()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				b.Fatal(err)
			}
			if row.Contact == nil || len(row.Rejects) != 0 {
				b.Fatalf("row %d rejected: %+v", row.Row, row.Rejects)
			}
			n++
		}
		if n != rows {
			b.Fatalf("%d rows", n)
		}
	}
	b.ReportMetric(float64(rows)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
}
