package dispatcher

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestNameKey(t *testing.T) {
	tests := []struct {
		name, locale, country string
		want                  string
	}{
		// Norwegian and Danish æ, ø, å, and their keyboard spellings.
		{"Bjørn Ødegård", "nb", "NO", "odegard bjorn"},
		{"Bjorn Odegaard", "", "", "odegard bjorn"},
		{"BJØRN ØDEGÅRD", "", "", "odegard bjorn"},
		{"Ødegård, Bjørn", "", "", "odegard bjorn"},
		{"Åse Ødegård 16", "nb", "", "odegard 16 ase"},
		{"Aase Oedegaard", "", "", "odegard ase"},
		{"Søren Kjær", "da", "DK", "kjar soren"},
		{"Soeren Kjaer", "", "", "kjar soren"},
		{"Kjersti Ærlig", "", "", "arlig kjersti"},
		// Swedish and German umlauts, ß.
		{"Åsa Öberg", "sv", "SE", "oberg asa"},
		{"Jürgen Müller", "de", "DE", "muller jurgen"},
		{"Juergen Mueller", "", "", "muller jurgen"},
		{"Heinz Strauß", "de", "", "strauss heinz"},
		{"Heinz Strauss", "", "", "strauss heinz"},
		// Polish ł and the other Polish letters.
		{"Łukasz Wałęsa", "pl", "PL", "walesa lukasz"},
		{"Zofia Żółć-Brzęczyszczykiewicz", "pl", "", "zolc brzeczyszczykiewicz zofia"},
		{"Paweł Ściśle", "", "", "scisle pawel"},
		// Vietnamese: family name first, stacked diacritics, đ.
		{"Nguyễn Thị Minh Khai", "vi", "VN", "nguyen khai minh thi"},
		{"Đặng Văn Lâm", "vi", "", "dang lam van"},
		{"Trần Hưng Đạo", "", "VN", "tran dao hung"},
		{"Nguyễn Thị Minh Khai", "en", "NO", "khai minh nguyen thi"}, // an English-language list: last word first
		// Icelandic, French, Spanish, Turkish, Czech.
		{"Þórður Guðmundsson", "is", "", "gudmundsson thordur"},
		{"Françoise d'Aubigné", "fr", "", "daubigne francoise"},
		{"José Núñez", "es", "", "nunez jose"},
		{"İlkay Gündoğan", "tr", "", "gundogan ilkay"},
		{"Antonín Dvořák", "cs", "", "dvorak antonin"},
		// Hyphens keep a double surname together; particles are given words.
		{"Kari Anne Berg-Hansen", "", "", "berg hansen anne kari"},
		{"Jean-Pierre Dupont", "", "", "dupont jean pierre"},
		{"Jan van der Berg", "nl", "", "berg der jan van"},
		{"O'Brien, Seán", "en", "", "obrien sean"},
		{"Seán O’Brien", "", "", "obrien sean"},
		// Decomposed input (macOS file names, some exports) folds alike.
		{"A\u030ase O\u0308berg", "", "", "oberg ase"},
		// Other scripts are kept, lower-cased, without marks.
		{"Дмитрий Шостакович", "ru", "", "шостакович дмитрии"},
		{"Σωκράτης Παπαδόπουλος", "el", "", "παπαδοπουλος σωκρατης"},
		// Spacing and punctuation.
		{"  Ola   Nordmann (jr.)  ", "", "", "jr nordmann ola"},
		{"Nordmann,Ola", "", "", "nordmann ola"},
		{"42", "", "", "42"},
		{"", "", "", ""},
		{"—", "", "", ""},
	}
	for _, tt := range tests {
		if got := NameKey(tt.name, tt.locale, tt.country); got != tt.want {
			t.Errorf("NameKey(%q, %q, %q) = %q, want %q", tt.name, tt.locale, tt.country, got, tt.want)
		}
	}
}

func TestNameKeyBounded(t *testing.T) {
	long := strings.Repeat("Bartholomew ", 40) + "Smith"
	k := NameKey(long, "", "")
	if len(k) > maxKeyBytes || !strings.HasPrefix(k, "smith ") || len(strings.Fields(k)) > maxKeyWords {
		t.Errorf("key of a very long name: %d bytes, %q", len(k), k)
	}
}

func TestNameQueryMatches(t *testing.T) {
	odegard := NameKey("Bjørn Ødegård", "nb", "NO")
	tests := []struct {
		query string
		key   string
		want  bool
	}{
		{"Bjorn Odegard", odegard, true},
		{"bjørn ødegård", odegard, true},
		{"Ødegård, Bjørn", odegard, true},
		{"odegard bjorn", odegard, true},
		{"Odegaard", odegard, true},
		{"Ødeg", odegard, true},            // a prefix of the surname
		{"Bjørn Øde", odegard, true},       // a full name, partly typed
		{"Ødegård B", odegard, true},       // with an initial
		{"B. Ødegård", odegard, true},      // with an initial first
		{"Bjorn", odegard, false},          // a first name alone is too vague
		{"Bjorn Hansen", odegard, false},   // another surname
		{"Bjarne Odegard", odegard, false}, // another first name
		{"Kari Berg-Hansen", NameKey("Kari Anne Berg-Hansen", "", ""), true},
		{"Kari Berg Hansen", NameKey("Kari Anne Berg-Hansen", "", ""), true},
		{"Berg", NameKey("Kari Anne Berg-Hansen", "", ""), true},
		{"Nguyen Khai", NameKey("Nguyễn Thị Minh Khai", "vi", "VN"), true},
		{"Nguyen", NameKey("Nguyễn Thị Minh Khai", "vi", "VN"), true},
		{"Lukasz Walesa", NameKey("Łukasz Wałęsa", "pl", ""), true},
		{"Mueller", NameKey("Jürgen Müller", "de", ""), true},
		{"Muller J", NameKey("Jürgen Müller", "de", ""), true},
		{"Strauss", NameKey("Heinz Strauß", "de", ""), true},
		{"Ase Odegard 16", NameKey("Åse Ødegård 16", "nb", ""), true},
		{"Ase Odegard", NameKey("Åse Ødegård 16", "nb", ""), true},
	}
	for _, tt := range tests {
		q, err := ParseNameQuery(tt.query)
		if err != nil {
			t.Errorf("ParseNameQuery(%q): %v", tt.query, err)
			continue
		}
		if got := q.Matches(tt.key); got != tt.want {
			t.Errorf("query %q (%q) matches key %q: %t, want %t", tt.query, q.Words, tt.key, got, tt.want)
		}
	}
}

func TestParseNameQueryRefuses(t *testing.T) {
	for _, q := range []string{"", "   ", "-,.", "B", "B O", "a b c d e f g"} {
		if _, err := ParseNameQuery(q); ErrorCode(err) != EINVALID {
			t.Errorf("ParseNameQuery(%q) = %v, want EINVALID", q, err)
		}
	}
}

func TestNameQueryRank(t *testing.T) {
	q, err := ParseNameQuery("Ole Hansen")
	if err != nil {
		t.Fatal(err)
	}
	exact := q.Rank(NameKey("Ole Hansen", "", ""))
	middle := q.Rank(NameKey("Ole Kristian Hansen", "", ""))
	prefix := q.Rank(NameKey("Olea Hansen", "", ""))
	if !(exact > middle && middle > prefix) {
		t.Errorf("ranks: exact %d, with a middle name %d, prefix %d; want decreasing", exact, middle, prefix)
	}
}

func TestNameKeyAllocatesOnlyTheResult(t *testing.T) {
	for _, name := range []string{"Bjørn Ødegård", "Ole Kristian Hansen", "Nguyễn Thị Minh Khai"} {
		if n := testing.AllocsPerRun(100, func() { _ = NameKey(name, "nb", "NO") }); n > 1 {
			t.Errorf("NameKey(%q) allocates %.0f times, want 1", name, n)
		}
	}
}

// FuzzNameKey checks the properties the lookup relies on for any input:
// the key is short, valid, lower-case and tidily spaced; a name always
// finds itself, whatever the order of its words; and the query folds as
// the key does.
func FuzzNameKey(f *testing.F) {
	for _, s := range []string{"Bjørn Ødegård", "Ødegård, Bjørn", "Nguyễn Thị Minh Khai", "Łukasz Wałęsa", "Heinz Strauß",
		"Kari Anne Berg-Hansen", "O'Brien", "A\u030ase", "Дмитрий", "  ,,  ", "aae oeue", "\xff\xfe", "12 34", "Ø-Å, Æ"} {
		f.Add(s, "nb", "NO")
	}
	f.Add("Trần Hưng Đạo", "vi", "VN")
	f.Fuzz(func(t *testing.T, name, locale, country string) {
		key := NameKey(name, locale, country)
		if !utf8.ValidString(key) {
			t.Fatalf("key %q of %q is not valid UTF-8", key, name)
		}
		if len(key) > maxKeyBytes {
			t.Fatalf("key of %q is %d bytes", name, len(key))
		}
		if key != strings.TrimSpace(key) || strings.Contains(key, "  ") {
			t.Fatalf("key %q of %q is not tidily spaced", key, name)
		}
		if strings.ContainsAny(key, "ABCDEFGHIJKLMNOPQRSTUVWXYZ,-'\t\n") {
			t.Fatalf("key %q of %q has upper case or punctuation", key, name)
		}
		if key >= NameUpperBound("") {
			t.Fatalf("key %q sorts after every prefix range", key)
		}
		words := strings.Fields(key)
		if len(words) > maxKeyWords {
			t.Fatalf("key %q has %d words", key, len(words))
		}
		q, err := ParseNameQuery(name)
		if err != nil || len(words) != len(strings.Fields(NameKey(name, "", ""))) {
			return // not a searchable name (or cut: very long)
		}
		if len(q.Words) < len(words) || len(words[0]) < 2 {
			return // repeated words, or a one-letter surname (initials are never searched as surnames)
		}
		if !q.Matches(key) {
			t.Fatalf("name %q (query words %q) does not find its own key %q", name, q.Words, key)
		}
		// Reversed word order finds it too.
		rev := make([]string, len(q.Words))
		for i, w := range q.Words {
			rev[len(rev)-1-i] = w
		}
		rq, err := ParseNameQuery(strings.Join(rev, " "))
		if err != nil {
			t.Fatalf("reversed query %q: %v", rev, err)
		}
		if !rq.Matches(key) {
			t.Fatalf("reversed name %q does not find key %q", rev, key)
		}
		// Every candidate range is a valid, non-empty byte range.
		for _, c := range q.Candidates() {
			if c.Prefix == "" || NameUpperBound(c.Prefix) <= c.Prefix {
				t.Fatalf("candidate %+v of %q has an empty range", c, name)
			}
		}
	})
}

func BenchmarkNameKey(b *testing.B) {
	names := []string{"Ole Kristian Hansen", "Bjørn Ødegård", "Nguyễn Thị Minh Khai", "Person 12345", "Łukasz Wałęsa"}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		_ = NameKey(names[i%len(names)], "nb", "NO")
		i++
	}
}
