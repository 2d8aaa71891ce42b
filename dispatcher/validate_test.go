package dispatcher

import (
	"errors"
	"net/mail"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestNormalizeEmail(t *testing.T) {
	tests := []struct {
		in, want string
		reason   string // substring of the error when want is ""
	}{
		{in: "ola.nordmann@example.no", want: "ola.nordmann@example.no"},
		{in: "  Ola.Nordmann@Example.NO \t", want: "Ola.Nordmann@example.no"},
		{in: "Ola Nordmann <ola@EXAMPLE.no>", want: "ola@example.no"},
		{in: `"Nordmann, Ola" <ola@example.no>`, want: "ola@example.no"},
		{in: "<kari@example.com>", want: "kari@example.com"},
		{in: "first+tag@sub.example.co.uk", want: "first+tag@sub.example.co.uk"},
		{in: "o'brien@example.ie", want: "o'brien@example.ie"},
		{in: "bjørn@eksempel.no", want: "bjørn@eksempel.no"},
		{in: "åse@BLÅBÆR.NO", want: "åse@blåbær.no"},
		{in: "zoe@xn--bcher-kva.example", want: "zoe@xn--bcher-kva.example"},
		{in: "user@example.xn--p1ai", want: "user@example.xn--p1ai"},
		{in: "a-b_c@my-host.example.org", want: "a-b_c@my-host.example.org"},

		{in: "", reason: "empty"},
		{in: "ola.nordmann.example.no", reason: "has no @"},
		{in: "ola@", reason: "nothing before or after"},
		{in: "@example.no", reason: "nothing before"},
		{in: "ola@example", reason: "no dot in the domain"},
		{in: "ola@example.", reason: "empty part"},
		{in: "ola@.example.no", reason: "empty part"},
		{in: "ola@example..no", reason: "empty part"},
		{in: "ola..n@example.no", reason: ""},
		{in: ".ola@example.no", reason: ""},
		{in: "ola@example.n", reason: "one-letter"},
		{in: "ola@example.c0m", reason: "not all letters"},
		{in: "ola@example.123", reason: "not all letters"},
		{in: "ola@-example.no", reason: "hyphen"},
		{in: "ola@exa_mple.no", reason: "not allowed in the domain"},
		{in: "ola nordmann@example.no", reason: "contains a space"},
		{in: "ola@exa mple.no", reason: "contains a space"},
		{in: "ola@example.no, kari@example.no", reason: "more than one address"},
		{in: "ola@example.no;kari@example.no", reason: "more than one address"},
		{in: "ola@@example.no", reason: "more than one @"},
		{in: `"ola nordmann"@example.no`, reason: "contains a space"},
		{in: `<"ola nordmann"@example.no>`, reason: "not allowed before the @"},
		{in: "ola@[192.0.2.1]", reason: ""},
		{in: strings.Repeat("a", 65) + "@example.no", reason: "64 characters"},
		{in: "a@" + strings.Repeat("b", 64) + ".no", reason: "63 characters"},
		{in: strings.Repeat("a", 60) + "@" + strings.Repeat("bbbbbbbbb.", 20) + "no", reason: "254"},
		{in: "a@" + strings.Repeat("bbbbbbbbb.", 26) + "no", reason: "253"},
		{in: "ola@example.no\xff", reason: "not text"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := NormalizeEmail(tt.in)
			if tt.want != "" {
				if err != nil || got != tt.want {
					t.Fatalf("NormalizeEmail(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
				}
				return
			}
			if err == nil {
				t.Fatalf("NormalizeEmail(%q) = %q, want an error", tt.in, got)
			}
			if ErrorCode(err) != EINVALID {
				t.Errorf("code = %q, want %q", ErrorCode(err), EINVALID)
			}
			if !strings.Contains(err.Error(), tt.reason) {
				t.Errorf("error %q does not mention %q", err, tt.reason)
			}
		})
	}
}

func TestNormalizePhone(t *testing.T) {
	tests := []struct {
		in, region, want string
		reason           string
	}{
		// Norway
		{in: "+47 912 34 567", want: "+4791234567"},
		{in: "+4741234567", want: "+4741234567"},
		{in: "0047 912 34 567", want: "+4791234567"},
		{in: "0047 912 34 567", region: "NO", want: "+4791234567"},
		{in: "912 34 567", region: "NO", want: "+4791234567"},
		{in: "91234567", region: "no", want: "+4791234567"},
		{in: "4791234567", region: "NO", want: "+4791234567"}, // a spreadsheet dropped the +
		{in: "tel:+47-912-34-567", want: "+4791234567"},
		{in: "22 33 44 55", region: "NO", want: "+4722334455"},
		// Netherlands
		{in: "+31 6 12345678", want: "+31612345678"},
		{in: "06-12345678", region: "NL", want: "+31612345678"},
		{in: "0031 6 1234 5678", want: "+31612345678"},
		{in: "(06) 1234 5678", region: "NL", want: "+31612345678"},
		// United Kingdom
		{in: "07400 123456", region: "GB", want: "+447400123456"},
		{in: "+44 7911 123456", want: "+447911123456"},
		{in: "0044 7400 123456", want: "+447400123456"},
		// United States
		{in: "(201) 555-0123", region: "US", want: "+12015550123"},
		{in: "+1 415 555 2671", want: "+14155552671"},
		{in: "001 415 555 2671", want: "+14155552671"},
		{in: "011 47 912 34 567", region: "US", want: "+4791234567"},
		{in: "0047 912 34 567", region: "US", want: "+4791234567"},
		// Sweden
		{in: "070-123 45 67", region: "SE", want: "+46701234567"},
		{in: "+46 70 123 45 67", want: "+46701234567"},
		{in: "0046701234567", region: "NO", want: "+46701234567"},
		// a number with its own country code ignores the region
		{in: "+31612345678", region: "NO", want: "+31612345678"},

		{in: "", reason: "empty"},
		{in: "912 34 567", reason: "national form"},
		{in: "1234", region: "NO", reason: "too few digits"},
		{in: "+47 123", reason: "not a valid number in NO"},
		{in: "+1 23", reason: "too few digits"},
		{in: "9123 456", region: "NO", reason: "not a valid number in NO"},
		{in: "+47 42 12 34 56", reason: "not a valid number in NO"},
		{in: "+47 91234567 / 92345678", reason: "too many digits"},
		{in: "+47 912 34 567 8", reason: "not a valid number in NO"},
		{in: "+47 91234567 92345678 12", reason: "too many digits"},
		{in: "06-1234567", region: "NL", reason: "not a valid number in NL"},
		{in: "+4921000000000000", reason: "15 digits"},                         // found by FuzzNormalizePhone
		{in: "07700 900123", region: "GB", reason: "not a valid number in GB"}, // Ofcom drama range
		{in: "+999 1234 5678", reason: "country code that does not exist"},
		{in: "4.79123E+09", region: "NO", reason: "scientific notation"},
		{in: "4,79E+09", region: "NO", reason: "scientific notation"},
		{in: "ring meg 12345", region: "NO", reason: ""},
		{in: "abcdefgh", region: "NO", reason: "too few digits"},
	}
	for _, tt := range tests {
		t.Run(tt.in+"/"+tt.region, func(t *testing.T) {
			got, err := NormalizePhone(tt.in, tt.region)
			if tt.want != "" {
				if err != nil || got != tt.want {
					t.Fatalf("NormalizePhone(%q, %q) = %q, %v; want %q", tt.in, tt.region, got, err, tt.want)
				}
				return
			}
			if err == nil {
				t.Fatalf("NormalizePhone(%q, %q) = %q, want an error", tt.in, tt.region, got)
			}
			if ErrorCode(err) != EINVALID {
				t.Errorf("code = %q, want %q", ErrorCode(err), EINVALID)
			}
			if !strings.Contains(err.Error(), tt.reason) {
				t.Errorf("error %q does not mention %q", err, tt.reason)
			}
		})
	}
}

func TestNormalizePhoneNoRegionIsSentinel(t *testing.T) {
	_, err := NormalizePhone("912 34 567", "")
	if !errors.Is(err, ErrNoRegion) {
		t.Fatalf("err = %v, want ErrNoRegion", err)
	}
	if ErrorCode(err) != EINVALID || !strings.Contains(err.Error(), "--region") {
		t.Fatalf("err = %v (code %q), want EINVALID mentioning --region", err, ErrorCode(err))
	}
	if _, err := NormalizePhone("12", ""); errors.Is(err, ErrNoRegion) {
		t.Fatalf("a too-short number is not a missing-region error: %v", err)
	}
}

func TestNormalizeCountry(t *testing.T) {
	tests := []struct{ in, want string }{
		{"NO", "NO"}, {"no", "NO"}, {" nl ", "NL"}, {"Norge", "NO"}, {"NORWAY", "NO"}, {"Noreg", "NO"},
		{"Nederland", "NL"}, {"the Netherlands", "NL"}, {"Sverige", "SE"}, {"UK", "GB"}, {"uk", "GB"},
		{"United  Kingdom", "GB"}, {"GB", "GB"}, {"NOR", "NO"}, {"nld", "NL"}, {"Danmark", "DK"}, {"Deutschland", "DE"},
		{"US", "US"}, {"USA", "US"}, {"België", "BE"},
		{"", ""}, {"Narnia", ""}, {"EU", ""}, {"ZZ", ""}, {"XX", ""}, {"N0", ""}, {"001", ""}, {"N", ""}, {"Norwayy", ""},
	}
	for _, tt := range tests {
		got, err := NormalizeCountry(tt.in)
		if tt.want == "" {
			if err == nil {
				t.Errorf("NormalizeCountry(%q) = %q, want an error", tt.in, got)
			} else if ErrorCode(err) != EINVALID {
				t.Errorf("NormalizeCountry(%q) code = %q", tt.in, ErrorCode(err))
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("NormalizeCountry(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
}

func TestNormalizeLocale(t *testing.T) {
	tests := []struct{ in, want string }{
		{"nb", "nb"}, {"NB", "nb"}, {"nb_NO", "nb-no"}, {" en-GB ", "en-gb"}, {"nl", "nl"}, {"nn", "nn"},
		{"Norsk", "nb"}, {"bokmål", "nb"}, {"Nederlands", "nl"}, {"English", "en"}, {"svenska", "sv"}, {"Deutsch", "de"},
		{"sv_SE", "sv-se"},
		{"", ""}, {"xx", ""}, {"norsk bokmål og nynorsk", ""}, {"1", ""}, {"en--gb", ""},
	}
	for _, tt := range tests {
		got, err := NormalizeLocale(tt.in)
		if tt.want == "" {
			if err == nil {
				t.Errorf("NormalizeLocale(%q) = %q, want an error", tt.in, got)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("NormalizeLocale(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
}

func FuzzValidateEmail(f *testing.F) {
	for _, s := range []string{
		"ola@example.no", "Ola <ola@Example.NO>", "åse@blåbær.no", "a@b", "a@b.c", `"a b"@c.no`,
		"a@[1.2.3.4]", "<a@b.no>", "a@b.no (comment)", "=?utf-8?q?x?= <a@b.no>", "a@xn--p1ai.xn--p1ai",
		"a\u0301@e\u0301.no", "a@b.no>", "\xff@b.no",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := NormalizeEmail(s)
		if err != nil {
			if ErrorCode(err) != EINVALID {
				t.Fatalf("NormalizeEmail(%q): error %v has code %q", s, err, ErrorCode(err))
			}
			return
		}
		if !utf8.ValidString(got) || len(got) > maxEmailLen || strings.ContainsAny(got, " \t\r\n<>\",;") {
			t.Fatalf("NormalizeEmail(%q) = %q: not a bare address", s, got)
		}
		at := strings.LastIndexByte(got, '@')
		if at <= 0 || strings.ToLower(got[at+1:]) != got[at+1:] || !strings.Contains(got[at+1:], ".") {
			t.Fatalf("NormalizeEmail(%q) = %q: domain not lower case or incomplete", s, got)
		}
		again, err := NormalizeEmail(got)
		if err != nil || again != got {
			t.Fatalf("not idempotent: NormalizeEmail(%q) = %q, then %q, %v", s, got, again, err)
		}
		a, err := mail.ParseAddress(got)
		if err != nil || a.Address != got {
			t.Fatalf("net/mail does not read %q back: %v, %v", got, a, err)
		}
	})
}

func FuzzNormalizePhone(f *testing.F) {
	for _, s := range []string{"+47 912 34 567", "912 34 567", "0047 91234567", "06-12345678", "(201) 555-0123",
		"4.79123E+09", "tel:+4791234567", "+999123", "00", "+", "07700 900123", "+47 91234567 ext. 12", "٩١٢٣٤٥٦٧"} {
		for _, r := range []string{"", "NO", "NL", "US", "GB", "zz", "N"} {
			f.Add(s, r)
		}
	}
	f.Fuzz(func(t *testing.T, s, region string) {
		got, err := NormalizePhone(s, region)
		if err != nil {
			if ErrorCode(err) != EINVALID {
				t.Fatalf("NormalizePhone(%q, %q): error %v has code %q", s, region, err, ErrorCode(err))
			}
			return
		}
		if len(got) < 4 || len(got) > 16 || got[0] != '+' {
			t.Fatalf("NormalizePhone(%q, %q) = %q: not E.164", s, region, got)
		}
		for _, c := range got[1:] {
			if c < '0' || c > '9' {
				t.Fatalf("NormalizePhone(%q, %q) = %q: not E.164", s, region, got)
			}
		}
		for _, r := range []string{"", "NO", "US"} {
			if again, err := NormalizePhone(got, r); err != nil || again != got {
				t.Fatalf("not stable: NormalizePhone(%q, %q) = %q, then with region %q %q, %v", s, region, got, r, again, err)
			}
		}
	})
}
