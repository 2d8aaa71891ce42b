package demodata_test

import (
	"bytes"
	"context"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald/dispatcher"
	"github.com/heraldhq/herald/internal/demodata"
)

var update = flag.Bool("update", false, "rewrite the committed demo contact lists in testdata/")

// The committed files sit at the repository root, where the demo and the
// end-to-end tests find them.
var golden = []struct {
	path  string
	write func(*bytes.Buffer) error
}{
	{"../../testdata/demo-contacts.csv", func(b *bytes.Buffer) error { return demodata.Write(b) }},
	{"../../testdata/demo-contacts-cp1252.csv", func(b *bytes.Buffer) error { return demodata.WriteWindows1252(b) }},
}

func TestGoldenFiles(t *testing.T) {
	for _, g := range golden {
		t.Run(filepath.Base(g.path), func(t *testing.T) {
			var buf bytes.Buffer
			if err := g.write(&buf); err != nil {
				t.Fatal(err)
			}
			if *update {
				if err := os.MkdirAll(filepath.Dir(g.path), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(g.path, buf.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(g.path)
			if err != nil {
				t.Fatalf("%v (run go test ./internal/demodata -update to create it)", err)
			}
			if !bytes.Equal(buf.Bytes(), want) {
				t.Errorf("%s differs from what demodata generates (%d bytes vs %d): run go test ./internal/demodata -update and review the diff", g.path, len(want), buf.Len())
			}
		})
	}
}

func TestDeterministic(t *testing.T) {
	var a, b bytes.Buffer
	if err := demodata.Write(&a); err != nil {
		t.Fatal(err)
	}
	if err := demodata.Write(&b); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a.Bytes(), b.Bytes()) {
		t.Fatal("two runs generate different lists")
	}
	if !slices.Equal(demodata.DeadMailboxes(), demodata.DeadMailboxes()) || !reflect.DeepEqual(demodata.InvalidNumbers(), demodata.InvalidNumbers()) {
		t.Fatal("dead mailboxes or invalid numbers differ between calls")
	}
}

func TestContent(t *testing.T) {
	var buf bytes.Buffer
	if err := demodata.Write(&buf); err != nil {
		t.Fatal(err)
	}
	text := buf.String()
	lines := strings.Split(strings.TrimSuffix(text, "\n"), "\n")
	if lines[0] != "ansattnr;navn;e-post;mobil;land;språk;rolle" {
		t.Errorf("header %q", lines[0])
	}
	if n := len(lines) - 1; n < 520 || n != demodata.Expect().Rows {
		t.Errorf("%d data rows, want at least 520 and Expect().Rows = %d", n, demodata.Expect().Rows)
	}
	for _, want := range []string{"Bjørn Håkon Ødegård", "Åse Kværnø", "IJsbrand van der Bijl", "Marijke Dijkstra", "Zoë de Vries",
		";ansatt\n", ";tidligere ansatt\n", ";kunde\n", "@example.no", "@example.nl", "@example.com", "+47 ", "06-", "+44 "} {
		if !strings.Contains(text, want) {
			t.Errorf("list has no %q", want)
		}
	}
	s := demodata.Expect()
	if s.Rejected < 5 || s.Duplicates < 10 || s.Warnings < 15 || s.NoEmail < 20 || s.NoPhone < 20 {
		t.Errorf("too few special rows: %+v", s)
	}
	if dead := len(demodata.DeadMailboxes()); dead*100 < s.Accepted*9 || dead*100 > s.Accepted*12 {
		t.Errorf("%d dead mailboxes among %d contacts, want about 10%%", dead, s.Accepted)
	}
	if s.FellBack < 40 || s.Unreachable < 5 {
		t.Errorf("fallback %d, unreachable %d: want most dead mailboxes to fall back and a few to end unreachable", s.FellBack, s.Unreachable)
	}
	codes := map[string]int{}
	for _, c := range demodata.InvalidNumbers() {
		codes[c]++
	}
	if codes[demodata.TwilioInvalidNumber] == 0 || codes[demodata.TwilioNotMobile] == 0 || len(codes) != 2 {
		t.Errorf("invalid number codes %v", codes)
	}
}

// TestImportBothEncodings imports both committed files through the real
// importer and checks they give the same contacts and rejects, and that
// the list does what Expect, DeadMailboxes and InvalidNumbers promise.
func TestImportBothEncodings(t *testing.T) {
	var results []*demoStore
	for _, g := range golden {
		var buf bytes.Buffer
		if err := g.write(&buf); err != nil {
			t.Fatal(err)
		}
		st := newDemoStore()
		im := &dispatcher.Importer{Store: st, Now: func() time.Time { return time.Date(2025, 3, 4, 9, 0, 0, 0, time.UTC) }}
		run, err := im.Import(context.Background(), &st.campaign, &buf, dispatcher.ImportOptions{Source: "demo.csv", BatchSize: 100})
		if err != nil {
			t.Fatalf("%s: %v", g.path, err)
		}
		want := demodata.Expect()
		if run.Read != want.Rows || run.Accepted != want.Accepted || run.Rejected != want.Rejected ||
			run.Duplicates != want.Duplicates || run.Warnings != want.Warnings {
			t.Errorf("%s: run %+v, want %+v", g.path, run, want)
			for _, r := range st.rejects {
				t.Logf("reject %+v", r)
			}
		}
		results = append(results, st)
	}
	utf8, cp := results[0], results[1]
	if !reflect.DeepEqual(utf8.contacts, cp.contacts) {
		for i := range min(len(utf8.contacts), len(cp.contacts)) {
			if !reflect.DeepEqual(utf8.contacts[i], cp.contacts[i]) {
				t.Fatalf("contact %d differs:\n utf-8  %+v\n cp1252 %+v", i, utf8.contacts[i], cp.contacts[i])
			}
		}
		t.Fatalf("%d contacts from UTF-8, %d from Windows-1252", len(utf8.contacts), len(cp.contacts))
	}
	if !reflect.DeepEqual(utf8.rejects, cp.rejects) {
		t.Fatal("the two encodings give different rejects")
	}

	// The promises the demo doubles rely on.
	var s demodata.Summary
	dead := map[string]bool{}
	for _, e := range demodata.DeadMailboxes() {
		dead[e] = true
	}
	invalid := demodata.InvalidNumbers()
	emails, phones := map[string]bool{}, map[string]bool{}
	for _, c := range utf8.contacts {
		emails[c.Email], phones[c.Phone] = true, true
		if c.Attrs["rolle"] == "" {
			t.Errorf("contact %s has no rolle", c.ExternalID)
		}
		emailOK, phoneOK := c.Email != "" && !dead[c.Email], c.Phone != "" && invalid[c.Phone] == ""
		switch {
		case emailOK:
			s.ReachedByEmail++
		case phoneOK:
			s.ReachedBySMS++
			if dead[c.Email] {
				s.FellBack++
			}
		default:
			s.Unreachable++
		}
		if c.Email == "" {
			s.NoEmail++
		}
		if c.Phone == "" {
			s.NoPhone++
		}
	}
	for e := range dead {
		if !emails[e] {
			t.Errorf("dead mailbox %s is not an imported address", e)
		}
	}
	for p := range invalid {
		if !phones[p] {
			t.Errorf("invalid number %s is not an imported number", p)
		}
	}
	want := demodata.Expect()
	if s.ReachedByEmail != want.ReachedByEmail || s.ReachedBySMS != want.ReachedBySMS || s.FellBack != want.FellBack ||
		s.Unreachable != want.Unreachable || s.NoEmail != want.NoEmail || s.NoPhone != want.NoPhone {
		t.Errorf("outcomes from the imported contacts %+v, Expect says %+v", s, want)
	}
}

// demoStore is the part of dispatcher.Store the importer uses, in memory.
type demoStore struct {
	dispatcher.Store
	campaign dispatcher.Campaign
	contacts []dispatcher.Contact
	keys     map[string]bool
	rejects  []dispatcher.Reject
	nextID   int64
}

func newDemoStore() *demoStore {
	return &demoStore{
		campaign: dispatcher.Campaign{ID: 1, Name: "demo", Policy: dispatcher.Policy{dispatcher.Email, dispatcher.SMS}, Status: dispatcher.CampaignDraft},
		keys:     map[string]bool{},
	}
}

func (s *demoStore) Campaign(context.Context, int64) (*dispatcher.Campaign, error) {
	c := s.campaign
	return &c, nil
}

func (s *demoStore) ImportContacts(_ context.Context, _ int64, cs []dispatcher.Contact, plan func(*dispatcher.Contact) []dispatcher.Delivery) (dispatcher.ImportResult, error) {
	var res dispatcher.ImportResult
	for _, c := range cs {
		if s.keys[c.DedupeKey()] {
			res.Duplicates++
			continue
		}
		s.keys[c.DedupeKey()] = true
		s.nextID++
		c.ID = s.nextID
		s.contacts = append(s.contacts, c)
		res.Inserted++
		for _, d := range plan(&c) {
			s.nextID++
			d.ID = s.nextID
			if d.State == dispatcher.StatePending {
				res.Deliveries = append(res.Deliveries, d)
			}
		}
	}
	return res, nil
}

func (s *demoStore) AddRejects(_ context.Context, _ int64, rs []dispatcher.Reject) (int, error) {
	s.rejects = append(s.rejects, rs...)
	return len(rs), nil
}

func (s *demoStore) RecordImport(context.Context, *dispatcher.ImportRun) error { return nil }
