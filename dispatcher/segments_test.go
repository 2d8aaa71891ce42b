package dispatcher

import (
	"strings"
	"testing"
	"unicode/utf16"
	"unicode/utf8"
)

func TestSMSSegments(t *testing.T) {
	a := strings.Repeat
	nb := "Hei Bjørn! Dine opplysninger kan være på avveie. Les mer på https://example.no/hendelse eller ring oss. Mvh Ærlig Åsen AS"
	tests := []struct {
		name     string
		text     string
		encoding string
		segments int
		units    int
	}{
		{"empty", "", EncodingGSM7, 1, 0},
		{"Norwegian æøå is GSM-7", nb, EncodingGSM7, 1, utf8.RuneCountInString(nb)},
		{"Dutch ë is not GSM-7", "Beste Zoë, uw gegevens zijn mogelijk ingezien. Zie https://example.nl/incident", EncodingUCS2, 2, 78},
		{"German umlauts and ß", "Schöne Grüße, Müller", EncodingGSM7, 1, 20},
		{"160 characters", a("a", 160), EncodingGSM7, 1, 160},
		{"161 characters", a("a", 161), EncodingGSM7, 2, 161},
		{"two full parts", a("a", 153*2), EncodingGSM7, 2, 306},
		{"one more than two parts", a("a", 153*2+1), EncodingGSM7, 3, 307},
		{"euro sign counts two", "Pris: 10€", EncodingGSM7, 1, 10},
		{"extension chars count two", "{x}[y]~|^\\\f", EncodingGSM7, 1, 11 + 9},
		{"bracket makes 161 septets", a("a", 159) + "[", EncodingGSM7, 2, 161},
		{"escape is not split across parts", a("a", 152) + "€" + a("a", 152), EncodingGSM7, 3, 306},
		{"escape fits at the end of a part", a("a", 151) + "€" + a("a", 153), EncodingGSM7, 2, 306},
		{"emoji forces UCS-2 and counts two", "Hei 👋", EncodingUCS2, 1, 6},
		{"Polish", "Zażółć gęślą jaźń", EncodingUCS2, 1, 17},
		{"Cyrillic", "Привет", EncodingUCS2, 1, 6},
		{"one emoji turns æøå text UCS-2", nb + "🙂", EncodingUCS2, 2, utf8.RuneCountInString(nb) + 2},
		{"70 UCS-2 units", a("ж", 70), EncodingUCS2, 1, 70},
		{"71 UCS-2 units", a("ж", 71), EncodingUCS2, 2, 71},
		{"two full UCS-2 parts", a("ж", 67*2), EncodingUCS2, 2, 134},
		{"one more than two UCS-2 parts", a("ж", 67*2+1), EncodingUCS2, 3, 135},
		{"surrogate pair is not split across parts", a("ж", 66) + "👋" + a("ж", 66), EncodingUCS2, 3, 134},
		{"35 emoji fill one segment", a("👋", 35), EncodingUCS2, 1, 70},
		{"lower-case ç is not GSM-7", "garçon", EncodingUCS2, 1, 6},
		{"curly apostrophe is not GSM-7", "Don’t", EncodingUCS2, 1, 5},
		{"CR LF are GSM-7", "a\r\nb", EncodingGSM7, 1, 4},
		{"invalid UTF-8 is sent as U+FFFD", "ok\xff", EncodingUCS2, 1, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			enc, segs, units := SMSSegments(tt.text)
			if enc != tt.encoding || segs != tt.segments || units != tt.units {
				t.Errorf("SMSSegments = %s, %d segments, %d units; want %s, %d, %d", enc, segs, units, tt.encoding, tt.segments, tt.units)
			}
		})
	}
}

// TestGSM7Alphabet checks the table against GSM 03.38: 127 characters in
// the default alphabet (128 less the escape) and 10 in the extension.
func TestGSM7Alphabet(t *testing.T) {
	if len(gsm7Basic) != 127 {
		t.Errorf("default alphabet has %d characters, want 127", len(gsm7Basic))
	}
	if len(gsm7Extension) != 10 {
		t.Errorf("extension table has %d characters, want 10", len(gsm7Extension))
	}
	for r := range gsm7Extension {
		if gsm7Basic[r] {
			t.Errorf("%q is in both tables", r)
		}
	}
	for _, r := range "@£$¥èéùìòÇØøÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ¤¡ÄÖÑÜ§¿äöñüà" {
		if gsm7Septets(r) != 1 {
			t.Errorf("%q is not one septet", r)
		}
	}
	for _, r := range "\x1b`çÀÁÂÃĄąćęłńśźżőű€" {
		if r == '€' {
			continue
		}
		if gsm7Septets(r) != 0 {
			t.Errorf("%q counted as GSM-7", r)
		}
	}
}

func FuzzSMSSegments(f *testing.F) {
	for _, s := range []string{"", "Hei Bjørn", strings.Repeat("a", 152) + "€a", "Zażółć 👋", strings.Repeat("ж", 66) + "👋", "\xff\xfe", "{}[]~|^\\\f€"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, text string) {
		enc, segs, units := SMSSegments(text)
		gsm := true
		septets := 0
		for _, r := range text {
			n := gsm7Septets(r)
			if n == 0 {
				gsm = false
			}
			septets += n
		}
		single, part := gsm7Single, gsm7Part
		switch enc {
		case EncodingGSM7:
			if !gsm {
				t.Fatalf("GSM-7 for a text with characters outside it: %q", text)
			}
			if units != septets {
				t.Fatalf("units %d, septets %d", units, septets)
			}
		case EncodingUCS2:
			if gsm {
				t.Fatalf("UCS-2 for a text GSM-7 can carry: %q", text)
			}
			if want := len(utf16.Encode([]rune(text))); units != want {
				t.Fatalf("units %d, UTF-16 units %d", units, want)
			}
			single, part = ucs2Single, ucs2Part
		default:
			t.Fatalf("encoding %q", enc)
		}
		if segs < 1 {
			t.Fatalf("%d segments", segs)
		}
		if units <= single {
			if segs != 1 {
				t.Fatalf("%d units in %d segments, want 1", units, segs)
			}
			return
		}
		if segs*part < units {
			t.Fatalf("%d units do not fit %d segments of %d", units, segs, part)
		}
		// A part is only cut short by a two-unit character, so every part
		// but the last holds at least part-1 units.
		if (segs-1)*(part-1) >= units {
			t.Fatalf("%d segments for %d units: too many", segs, units)
		}
	})
}
