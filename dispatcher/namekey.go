package dispatcher

import (
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// Name search for the support lookup. A caller says "Bjorn Odegard" or
// "Ødegård, Bjørn"; the list holds "Bjørn Ødegård". Both are reduced to a
// search key in Go, so that SQLite (which cannot fold accents) and
// PostgreSQL (whose unaccent is an extension) compare the same thing, and
// the ledger keeps one B-tree index on the key:
//
//  1. Folding: letters are lower-cased and stripped of accents (é → e,
//     å → a, ü → u, ễ → e, ł → l, ø → o, æ → ae, ß → ss, þ → th); the
//     spellings Nordic and German names are written with when a keyboard
//     lacks the letter are then made equal (aa → a, ae → a, oe → o,
//     ue → u), so Ødegård, Odegaard and Odegard, or Müller and Mueller,
//     fold alike. Apostrophes vanish (O'Brien → obrien); any other
//     punctuation separates words.
//  2. The key is the surname first, then the other words in byte order:
//     "Bjørn Ødegård" → "odegard bjorn", "Kari Anne Berg-Hansen" →
//     "berg hansen anne kari". The surname is what precedes a comma
//     ("Ødegård, Bjørn"), else the last word (with the words hyphenated
//     to it), or the first for languages that write the family name first
//     (Vietnamese, Hungarian, Chinese, Japanese, Korean). Words that are
//     numbers are never the surname.
//
// A query matches a key when one of its words (of two letters or more) is
// a prefix of the key, i.e. of the surname, and every other word is a
// prefix of some word of the key. So word order does not matter, a prefix
// of the surname finds it ("Ødeg"), and so does a full name typed partly
// ("Bjørn Øde"). Each candidate word is one range scan of the index; the
// other words filter the range. A first name alone finds nobody unless it
// is also a surname: it is too vague to answer "was I told?" anyway.
//
// The key is a search aid, never shown: it is deliberately lossy.

// Limits of name keys and queries.
const (
	// MaxNameQueryWords is the most words a name search may have.
	MaxNameQueryWords = 6
	// maxKeyWords is the most words a key keeps (the surname's first).
	maxKeyWords = 12
	// maxKeyBytes bounds a key; longer names are cut at a word boundary.
	maxKeyBytes = 200
)

// foldLatin maps U+0000–U+024F and foldLatinExt U+1E00–U+1EFF (Vietnamese
// and other precomposed letters) to their folded ASCII spelling; empty for
// runes that are not letters or digits there.
var (
	foldLatin    [0x250]string
	foldLatinExt [0x100]string
)

// foldSpecial are letters that do not decompose into an ASCII base letter
// plus marks, with the spelling a keyboard without them uses.
var foldSpecial = map[rune]string{
	'ø': "o", 'Ø': "o", 'æ': "ae", 'Æ': "ae", 'œ': "oe", 'Œ': "oe",
	'ß': "ss", 'ẞ': "ss", 'ł': "l", 'Ł': "l", 'đ': "d", 'Đ': "d",
	'ð': "d", 'Ð': "d", 'þ': "th", 'Þ': "th", 'ı': "i", 'ħ': "h", 'Ħ': "h",
	'ŧ': "t", 'Ŧ': "t", 'ŀ': "l", 'Ŀ': "l", 'ĸ': "k", 'ŋ': "n", 'Ŋ': "n",
	'ƒ': "f", 'ĳ': "ij", 'Ĳ': "ij", 'ŉ': "n", 'ſ': "s", 'ə': "e", 'Ə': "e",
	'ƀ': "b", 'ƚ': "l", 'ɍ': "r", 'ɏ': "y", 'ȥ': "z", 'ƶ': "z", 'Ƶ': "z",
}

func init() {
	build := func(r rune) string {
		if s, ok := foldSpecial[r]; ok {
			return s
		}
		if r < 0x80 {
			switch {
			case r >= 'a' && r <= 'z', r >= '0' && r <= '9':
				return string(r)
			case r >= 'A' && r <= 'Z':
				return string(r + 'a' - 'A')
			}
			return ""
		}
		if !unicode.IsLetter(r) && !unicode.IsDigit(r) {
			return ""
		}
		var b strings.Builder
		for _, d := range norm.NFD.String(string(r)) {
			switch {
			case d >= 'a' && d <= 'z':
				b.WriteRune(d)
			case d >= 'A' && d <= 'Z':
				b.WriteRune(d + 'a' - 'A')
			}
		}
		if b.Len() == 0 { // a letter with no Latin base: keep it, lower-cased
			return string(unicode.ToLower(r))
		}
		return b.String()
	}
	for r := range foldLatin {
		foldLatin[r] = build(rune(r))
	}
	for r := range foldLatinExt {
		foldLatinExt[r] = build(rune(0x1E00 + r))
	}
}

// runeClass is what a rune does to a name's words.
type runeClass uint8

const (
	classSeparator runeClass = iota // ends a word
	classWord                       // part of a word
	classJoiner                     // dropped without ending the word (apostrophes, combining marks)
	classHyphen                     // ends a word but keeps the next in the same name part
	classComma                      // ends a word and the surname part ("Ødegård, Bjørn")
)

func classify(r rune) runeClass {
	switch r {
	case '\'', '\u2019', '\u02bc', '`', '\u00b4', '\u2018', '\u200b', '\u200c', '\u200d', '\u00ad':
		return classJoiner
	case '-', '\u2010', '\u2011':
		return classHyphen
	case ',', '\uff0c', '\u060c':
		return classComma
	}
	if r < 0x250 {
		if foldLatin[r] != "" {
			return classWord
		}
		if r >= 0x80 && unicode.Is(unicode.Mn, r) {
			return classJoiner
		}
		return classSeparator
	}
	if unicode.Is(unicode.Mn, r) || unicode.Is(unicode.Me, r) {
		return classJoiner
	}
	if unicode.IsLetter(r) || unicode.IsDigit(r) {
		return classWord
	}
	return classSeparator
}

// appendFolded appends the folded spelling of r (a classWord rune) to b.
func appendFolded(b []byte, r rune) []byte {
	switch {
	case r < 0x250:
		return append(b, foldLatin[r]...)
	case r >= 0x1E00 && r < 0x1F00:
		if s := foldLatinExt[r-0x1E00]; s != "" {
			return append(b, s...)
		}
	}
	// Other scripts: decompose, drop the marks, lower-case what is left.
	var one [utf8.UTFMax]byte
	n := utf8.EncodeRune(one[:], r)
	var it norm.Iter
	it.Init(norm.NFD, one[:n])
	for !it.Done() {
		seg := it.Next()
		for len(seg) > 0 {
			d, size := utf8.DecodeRune(seg)
			seg = seg[size:]
			if unicode.Is(unicode.Mn, d) {
				continue
			}
			b = utf8.AppendRune(b, unicode.ToLower(d))
		}
	}
	return b
}

// nameWord is one word of a folded name: buf[start:end].
type nameWord struct {
	start, end  int
	part        int  // name part: words joined by hyphens share one
	numeric     bool // digits only
	beforeComma bool // before the first comma
}

// foldedName is a name split into folded words.
type foldedName struct {
	buf   []byte
	words []nameWord // at most the capacity the caller gave
	total int        // words seen, kept or not
	comma bool       // a comma ended a surname part
}

// foldName splits s into folded words, keeping the first cap(words) of
// them. buf and words are scratch space the caller provides, so that a key
// is made without allocating more than its result.
func foldName(s string, buf []byte, words []nameWord) foldedName {
	f := foldedName{buf: buf[:0], words: words[:0]}
	part, start := 0, -1
	numeric := true
	end := func() {
		if start < 0 {
			return
		}
		w := nameWord{start: start, part: part, numeric: numeric, beforeComma: !f.comma}
		w.end = start + collapseDigraphs(f.buf[start:])
		f.total++
		switch {
		case len(f.words) < cap(f.words):
			f.words = append(f.words, w)
			f.buf = f.buf[:w.end]
		case len(f.words) > 0:
			// Full: the newest word replaces the last kept one, so
			// that the last word (usually the surname) is always kept.
			last := &f.words[len(f.words)-1]
			n := copy(f.buf[last.start:], f.buf[w.start:w.end])
			w.start, w.end = last.start, last.start+n
			*last = w
			f.buf = f.buf[:w.end]
		default:
			f.buf = f.buf[:start]
		}
		start, numeric = -1, true
	}
	for i := 0; i < len(s); {
		r, size := rune(s[i]), 1
		if r >= utf8.RuneSelf {
			r, size = utf8.DecodeRuneInString(s[i:])
		}
		i += size
		switch classify(r) {
		case classWord:
			if start < 0 {
				start = len(f.buf)
			}
			if r < '0' || r > '9' {
				numeric = false
			}
			f.buf = appendFolded(f.buf, r)
		case classJoiner:
		case classHyphen:
			end()
		case classComma:
			end()
			if f.total > 0 {
				f.comma = true
			}
			part++
		default:
			end()
			part++
		}
	}
	end()
	return f
}

// collapseDigraphs rewrites a folded word in place, making the keyboard
// spellings of å, æ, ø/ö and ü equal to the plain vowel (aa → a, ae → a,
// oe → o, ue → u), and returns its new length. Working left to right and
// keeping the first letter of each pair, it maps a prefix of a word to a
// prefix of the word's result, which prefix search relies on; and as it
// drops every a or e after an a (every e after an o or u), its result has
// no pair left, so folding a folded word changes nothing.
func collapseDigraphs(w []byte) int {
	n := 0
	for i := 0; i < len(w); i++ {
		c := w[i]
		w[n] = c
		n++
		for i+1 < len(w) && ((c == 'a' && (w[i+1] == 'a' || w[i+1] == 'e')) || ((c == 'o' || c == 'u') && w[i+1] == 'e')) {
			i++
		}
	}
	return n
}

func (f *foldedName) word(i int) []byte { return f.buf[f.words[i].start:f.words[i].end] }

// familyNameFirst reports whether names in this language (or, without a
// language, this country) put the family name first.
func familyNameFirst(locale, country string) bool {
	lang := locale
	if i := strings.IndexAny(lang, "-_"); i >= 0 {
		lang = lang[:i]
	}
	switch strings.ToLower(lang) {
	case "vi", "hu", "zh", "ja", "ko":
		return true
	case "":
		switch strings.ToUpper(country) {
		case "VN", "HU", "CN", "TW", "JP", "KR":
			return true
		}
	}
	return false
}

// NameKey returns the search key of a person's name (see the top of this
// file): folded words, the surname first, the rest sorted. locale and
// country decide the name order when the name has no comma. An empty name
// has an empty key. It allocates only the result.
func NameKey(name, locale, country string) string {
	var bufArr [160]byte
	var wordArr [maxKeyWords * 2]nameWord
	f := foldName(name, bufArr[:0], wordArr[:0])
	if len(f.words) == 0 {
		return ""
	}
	// The surname: the words before a comma, else the last (or, in
	// family-name-first languages, the first) name part that is not a
	// number.
	surnamePart := -1
	if !f.comma {
		first := familyNameFirst(locale, country)
		for k := range f.words {
			i := len(f.words) - 1 - k
			if first {
				i = k
			}
			if !f.words[i].numeric {
				surnamePart = f.words[i].part
				break
			}
		}
	}
	isSurname := func(w nameWord) bool {
		if f.comma {
			return w.beforeComma
		}
		return w.part == surnamePart && !w.numeric
	}
	var order [len(wordArr)]int
	n := 0
	for i, w := range f.words {
		if isSurname(w) {
			order[n] = i
			n++
		}
	}
	surname := n
	for i, w := range f.words {
		if !isSurname(w) {
			order[n] = i
			n++
		}
	}
	// Sort the other words (insertion sort: a handful of words).
	for i := surname + 1; i < n; i++ {
		for j := i; j > surname && string(f.word(order[j])) < string(f.word(order[j-1])); j-- {
			order[j], order[j-1] = order[j-1], order[j]
		}
	}
	size := 0
	kept := 0
	for _, i := range order[:min(n, maxKeyWords)] {
		l := f.words[i].end - f.words[i].start
		if kept > 0 {
			l++
		}
		if size+l > maxKeyBytes {
			break
		}
		size += l
		kept++
	}
	var b strings.Builder
	b.Grow(size)
	for k, i := range order[:kept] {
		if k > 0 {
			b.WriteByte(' ')
		}
		b.Write(f.word(i))
	}
	return b.String()
}

// NameQuery is a name search, folded as keys are.
type NameQuery struct {
	// Words are the query's folded words, without duplicates, in the
	// order typed.
	Words []string
}

// ParseNameQuery folds a name typed into the support lookup. It fails
// with EINVALID when the query has no letters, too few (one letter finds
// half the list) or too many words.
func ParseNameQuery(s string) (NameQuery, error) {
	f := foldName(s, make([]byte, 0, len(s)+8), make([]nameWord, 0, 4*MaxNameQueryWords))
	var q NameQuery
	letters := 0
	if f.total > len(f.words) {
		return q, Errorf(EINVALID, "a name search takes at most %d words: leave out middle names", MaxNameQueryWords)
	}
	for i := range f.words {
		w := string(f.word(i))
		dup := false
		for _, have := range q.Words {
			if have == w {
				dup = true
			}
		}
		if dup {
			continue
		}
		q.Words = append(q.Words, w)
		letters += len(w)
	}
	switch {
	case len(q.Words) == 0:
		return q, Errorf(EINVALID, "type a name, e-mail address, phone number or id to search for")
	case len(q.Words) > MaxNameQueryWords:
		return q, Errorf(EINVALID, "a name search takes at most %d words: leave out middle names", MaxNameQueryWords)
	case letters < 2 || len(q.Candidates()) == 0:
		return q, Errorf(EINVALID, "type at least two letters of the surname")
	}
	return q, nil
}

// NameCandidate is one way a query can match: keys starting with Prefix
// (the surname, or its beginning) that contain a word starting with each
// of Others.
type NameCandidate struct {
	Prefix string
	Others []string
}

// Candidates lists the ways the query can match a key: each word of two
// letters or more (or the only word) as the surname's beginning, with the
// others anywhere. A store answers a query with one index range scan per
// candidate.
func (q NameQuery) Candidates() []NameCandidate {
	var out []NameCandidate
	for i, w := range q.Words {
		if len(w) < 2 && len(q.Words) > 1 {
			continue // an initial is never a surname
		}
		c := NameCandidate{Prefix: w}
		for j, o := range q.Words {
			if j != i {
				c.Others = append(c.Others, o)
			}
		}
		out = append(out, c)
	}
	return out
}

// Matches reports whether key (from NameKey) matches the query: the
// reference for what a store's SQL must select.
func (q NameQuery) Matches(key string) bool {
	for _, c := range q.Candidates() {
		if c.Matches(key) {
			return true
		}
	}
	return false
}

// Matches reports whether key matches this candidate.
func (c NameCandidate) Matches(key string) bool {
	if !strings.HasPrefix(key, c.Prefix) {
		return false
	}
	for _, o := range c.Others {
		if !strings.Contains(" "+key, " "+o) {
			return false
		}
	}
	return true
}

// Rank scores how well key matches: twice the query words that are whole
// words of the key, minus the key's words the query did not name. Higher
// is better; a store orders matches by it.
func (q NameQuery) Rank(key string) int {
	score := 0
	words := strings.Fields(key)
	used := 0
	for _, w := range q.Words {
		for _, kw := range words {
			if kw == w {
				score += 2
				used++
				break
			}
		}
	}
	return score - (len(words) - used)
}

// NameUpperBound returns the smallest string greater than every string
// that starts with prefix, in byte order: the end of the key range a
// prefix selects (U+10FFFF, the largest code point, sorts after any valid
// UTF-8 that can follow).
func NameUpperBound(prefix string) string { return prefix + string(utf8.MaxRune) }
