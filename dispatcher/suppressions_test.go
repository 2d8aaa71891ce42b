package dispatcher

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"golang.org/x/text/encoding/charmap"
)

func TestNormalizeSuppression(t *testing.T) {
	tests := []struct {
		channel, address, region string
		want                     ChannelKind
		wantAddr                 string
		err                      string
	}{
		{"email", " Ola.Nordmann@Example.NO ", "", Email, "ola.nordmann@example.no", ""},
		{"SMS", "+47 912 34 567", "", SMS, "+4791234567", ""},
		{"sms", "912 34 567", "NO", SMS, "+4791234567", ""},
		{"sms", "912 34 567", "", "", "", "country code"},
		{"postal", "  1 Main  St, 90210 Beverly Hills, CA,  US ", "", Postal, "1 main st, 90210 beverly hills, ca, us", ""},
		{"postal", "   ", "", "", "", "empty"},
		{"email", "not-an-address", "", "", "", "no @"},
		{"fax", "x", "", "", "", `unknown channel "fax"`},
		{"file", "a@example.no", "", "", "", "dry run"},
	}
	for _, tt := range tests {
		k, a, err := NormalizeSuppression(tt.channel, tt.address, tt.region)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) || ErrorCode(err) != EINVALID {
				t.Errorf("NormalizeSuppression(%q, %q) = %q, %q, %v; want an EINVALID error with %q", tt.channel, tt.address, k, a, err, tt.err)
			}
			continue
		}
		if err != nil || k != tt.want || a != tt.wantAddr {
			t.Errorf("NormalizeSuppression(%q, %q) = %q, %q, %v; want %q, %q", tt.channel, tt.address, k, a, err, tt.want, tt.wantAddr)
		}
	}
	// A contact's postal address, as the ledger records it, matches what
	// an operator types for it.
	ct := Contact{Postal: PostalAddress{Line1: "1 Main St", PostalCode: "90210", City: "Beverly Hills", Region: "CA"}, Country: "US"}
	if _, a, _ := NormalizeSuppression("postal", "1 MAIN ST, 90210 Beverly Hills, CA, US", ""); a != suppressionKey(Postal, ct.Address(Postal)) {
		t.Errorf("typed %q does not match the ledger's %q", a, ct.Address(Postal))
	}
}

func TestParseSuppressionReason(t *testing.T) {
	for in, want := range map[string]string{"": ReasonManual, "Manual": ReasonManual, "hard-bounce": ReasonInvalid, "returned": ReasonInvalid,
		"spam": ReasonComplaint, "opt-out": ReasonOptedOut, "STOP": ReasonOptedOut, "opted_out": ReasonOptedOut} {
		if got, err := ParseSuppressionReason(in); err != nil || got != want {
			t.Errorf("ParseSuppressionReason(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	if _, err := ParseSuppressionReason("because"); err == nil || !strings.Contains(err.Error(), "invalid, complaint, opted_out, manual") {
		t.Errorf("unknown reason: %v", err)
	}
}

func TestReadSuppressions(t *testing.T) {
	in := "channel;address;reason;source;first_seen\n" +
		"email;Ola@Example.no;invalid;;2025-03-14T09:00:00Z\n" +
		"\n" +
		"sms;'+47 912 34 567;opt-out;complaint desk;\n" + // as csvsafe writes it
		"postal;1 Main St, 90210 LA, US;;;\n"
	got, err := ReadSuppressions(strings.NewReader(in), "", "list.csv")
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 {
		t.Fatalf("got %+v", got)
	}
	first := time.Date(2025, 3, 14, 9, 0, 0, 0, time.UTC)
	if got[0].Channel != Email || got[0].Address != "ola@example.no" || got[0].Reason != ReasonInvalid || got[0].Source != "list.csv row 2" ||
		!got[0].FirstSeen.Equal(first) || !got[0].LastSeen.Equal(first) {
		t.Errorf("row 2 = %+v", got[0])
	}
	if got[1].Channel != SMS || got[1].Address != "+4791234567" || got[1].Reason != ReasonOptedOut || got[1].Source != "complaint desk" {
		t.Errorf("row 4 = %+v", got[1])
	}
	if got[2].Channel != Postal || got[2].Reason != ReasonManual || got[2].Address != "1 main st, 90210 la, us" {
		t.Errorf("row 5 = %+v", got[2])
	}
	// Windows-1252 with a comma delimiter and only the two required columns.
	var cp bytes.Buffer
	w := charmap.Windows1252.NewEncoder().Writer(&cp)
	_, _ = w.Write([]byte("Channel,Address\r\npostal,\"Øvre gate 2, 0155 Oslo, NO\"\r\n"))
	got, err = ReadSuppressions(&cp, "", "cp.csv")
	if err != nil || len(got) != 1 || got[0].Address != "øvre gate 2, 0155 oslo, no" {
		t.Errorf("cp1252 = %+v, %v", got, err)
	}
}

func TestReadSuppressionsErrors(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want []string
	}{
		{"empty", "", []string{"empty", "channel,address,reason"}},
		{"no address column", "channel,reason\nemail,manual\n", []string{"no address column", `"channel", "reason"`}},
		{"no channel column", "address\na@example.no\n", []string{"no channel column"}},
		{"bad rows named", "channel,address,reason\n" +
			"email,a@example.no,manual\n" + // row 2: fine
			"fax,123,manual\n" + // row 3
			"email,not-an-address,\n" + // row 4
			"sms,+4791234567,because\n" + // row 5
			"email,b@example.no,manual,extra\n" + // row 6
			"email,c@example.no,manual\n", // row 7: fine
			[]string{"4 rows cannot be imported, so nothing was", `row 3: unknown channel "fax"`, "row 4: e-mail address", `row 5: unknown suppression reason "because"`, "row 6: the row has 4 fields"}},
		{"bad time", "channel,address,first_seen\nemail,a@example.no,yesterday\n", []string{`row 2: first_seen "yesterday"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ReadSuppressions(strings.NewReader(tt.in), "", "x.csv")
			if err == nil || got != nil {
				t.Fatalf("ReadSuppressions = %+v, %v; want an error and nothing", got, err)
			}
			if ErrorCode(err) != EINVALID {
				t.Errorf("code %q (%v)", ErrorCode(err), err)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
	// Many bad rows: ten are named, the rest counted.
	var b strings.Builder
	b.WriteString("channel,address\n")
	for range 25 {
		b.WriteString("fax,1\n")
	}
	_, err := ReadSuppressions(strings.NewReader(b.String()), "", "x.csv")
	if err == nil || strings.Count(err.Error(), "row ") != 10 || !strings.Contains(err.Error(), "and 15 more rows") {
		t.Errorf("many bad rows: %v", err)
	}
}

// FuzzReadSuppressions feeds the suppression importer arbitrary files: it
// must not panic, and whatever it accepts is a valid, normalised entry.
func FuzzReadSuppressions(f *testing.F) {
	f.Add([]byte("channel,address,reason\nemail,a@example.no,manual\nsms,+4791234567,\n"))
	f.Add([]byte("channel;address\npostal;\"1 Main St\n90210\"\n"))
	f.Add([]byte("\xEF\xBB\xBFChannel\tAddress\tFirst_Seen\nemail\tA@B.no\t2025-01-01T00:00:00Z\n"))
	f.Add([]byte("channel,address\n\"email,a@b.no\n"))
	f.Fuzz(func(t *testing.T, in []byte) {
		got, err := ReadSuppressions(bytes.NewReader(in), "NO", "fuzz.csv")
		if err != nil {
			if ErrorCode(err) != EINVALID {
				t.Fatalf("error %v has code %q, want %q", err, ErrorCode(err), EINVALID)
			}
			return
		}
		for _, s := range got {
			k, a, err := NormalizeSuppression(string(s.Channel), s.Address, "NO")
			if err != nil || k != s.Channel || a != s.Address {
				t.Fatalf("accepted %+v does not re-normalise: %q %q %v", s, k, a, err)
			}
			if _, err := ParseSuppressionReason(s.Reason); err != nil || s.Source == "" {
				t.Fatalf("accepted %+v with a bad reason or no source", s)
			}
		}
	})
}

func TestSubstituteHeadline(t *testing.T) {
	areas := []AreaCount{{Country: "US", Region: "NY", N: 10}, {Country: "US", Region: "CA", N: 27}, {Country: "NO", N: 3}}
	tests := []struct {
		name        string
		unreachable int64
		inProgress  int64
		threshold   int
		due         bool
		want        string
	}{
		{"above", 37, 0, 10, true, "37 people could not be reached directly; that is above the substitute-notice threshold of 10 set for this campaign (--substitute-threshold): publish a substitute notice (website, press, hotline)."},
		{"at", 10, 0, 10, true, "10 people could not be reached directly; that reaches the substitute-notice threshold of 10 set for this campaign (--substitute-threshold): publish a substitute notice (website, press, hotline)."},
		{"below", 1, 0, 10, false, "1 person could not be reached directly; that is below the substitute-notice threshold of 10 set for this campaign (--substitute-threshold): reach them by other means (telephone, another address)."},
		{"no threshold", 37, 0, 0, false, "37 people could not be reached directly; no substitute-notice threshold is set for this campaign (set one with --substitute-threshold, e.g. 10 under the US HIPAA rule)."},
		{"still running", 9, 120, 10, false, "9 people could not be reached directly; that is below the substitute-notice threshold of 10 set for this campaign (--substitute-threshold): reach them by other means (telephone, another address) (120 contacts are still in progress, so the count may grow)."},
		{"one still running", 12, 1, 10, true, "12 people could not be reached directly; that is above the substitute-notice threshold of 10 set for this campaign (--substitute-threshold): publish a substitute notice (website, press, hotline) (1 contact is still in progress, so the count may grow)."},
		{"nobody", 0, 0, 10, false, "Nobody is unreachable: every contact was reached directly."},
		{"nobody yet", 0, 5, 10, false, "Nobody is unreachable so far (5 contacts are still in progress, so the count may grow)."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n := NewSubstituteNotice(&Report{Unreachable: tt.unreachable, InProgress: tt.inProgress}, areas, tt.threshold)
			if n.Due != tt.due || n.Headline != tt.want {
				t.Errorf("due %v, headline\n %q\nwant %v\n %q", n.Due, n.Headline, tt.due, tt.want)
			}
		})
	}
	n := NewSubstituteNotice(&Report{Unreachable: 40}, areas, -1)
	if n.Threshold != 0 || len(n.ByCountry) != 2 || n.ByCountry[0] != (AreaCount{Country: "US", N: 37}) || n.ByCountry[1] != (AreaCount{Country: "NO", N: 3}) {
		t.Errorf("by country = %+v", n.ByCountry)
	}
	if n.ByArea[0].Region != "CA" || n.ByArea[1].Region != "NY" || areas[0].Region != "NY" {
		t.Errorf("by area = %+v (the caller's slice must not be reordered: %+v)", n.ByArea, areas)
	}
}
