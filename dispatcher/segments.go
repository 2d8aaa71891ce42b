package dispatcher

import "unicode/utf16"

// SMS text encodings, as SMSSegments reports them.
const (
	// EncodingGSM7 is the GSM 03.38 default alphabet, 7 bits a
	// character: 160 characters fit one SMS. It covers æøå and most of
	// western Europe's letters, but not Polish, Czech, Cyrillic or emoji.
	EncodingGSM7 = "GSM-7"
	// EncodingUCS2 is 16 bits a character (UTF-16 code units): only 70 fit
	// one SMS. One character outside GSM-7 anywhere in a message sends all
	// of it as UCS-2.
	EncodingUCS2 = "UCS-2"
)

// Capacity of one SMS in each encoding, alone and as part of a
// concatenated message (whose user data header takes 6 octets: 7 septets
// or 3 UTF-16 units).
const (
	gsm7Single = 160
	gsm7Part   = 153
	ucs2Single = 70
	ucs2Part   = 67
)

// gsm7Basic is the GSM 03.38 default alphabet: one septet each.
var gsm7Basic = map[rune]bool{}

// gsm7Extension is the GSM 03.38 extension table: an escape septet and the
// character, two septets that must travel in the same SMS.
var gsm7Extension = map[rune]bool{
	'\f': true, '^': true, '{': true, '}': true, '\\': true,
	'[': true, '~': true, ']': true, '|': true, '€': true,
}

func init() {
	// The 128 characters of the default alphabet in septet order
	// (0x1B, the escape to the extension table, is skipped).
	const basic = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞ\x1bÆæßÉ" +
		" !\"#¤%&'()*+,-./0123456789:;<=>?" +
		"¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§" +
		"¿abcdefghijklmnopqrstuvwxyzäöñüà"
	for _, r := range basic {
		if r != '\x1b' {
			gsm7Basic[r] = true
		}
	}
}

// gsm7Septets returns how many septets r takes in GSM-7: 1, 2 for the
// extension table, or 0 when r cannot be sent in GSM-7.
func gsm7Septets(r rune) int {
	switch {
	case gsm7Basic[r]:
		return 1
	case gsm7Extension[r]:
		return 2
	}
	return 0
}

// SMSSegments tells how text will travel as SMS: its encoding (EncodingGSM7
// or EncodingUCS2), the number of segments a network bills for, and its
// length in units of that encoding (septets for GSM-7, where the
// extension characters ^{}\[~]|€ count two; UTF-16 code units for UCS-2,
// where an emoji counts two).
//
// One segment holds 160 septets or 70 units; a longer text is split into
// parts of 153 septets or 67 units. A character is never split across
// parts: an extension character (escape and character) or an emoji (a
// surrogate pair) that would straddle the boundary starts the next part,
// as handsets and providers do, so a text can need one segment more than
// its units divided by the part size.
//
// Text is UTF-8; an invalid byte is counted as the U+FFFD that would be
// sent in its place. An empty text is one (empty) segment. No characters
// are substituted: a provider that "smart encodes" (Twilio replaces
// curly quotes with straight ones) may send fewer segments than counted.
func SMSSegments(text string) (encoding string, segments int, units int) {
	gsm := true
	for _, r := range text {
		if gsm7Septets(r) == 0 {
			gsm = false
			break
		}
	}
	single, part := gsm7Single, gsm7Part
	width := gsm7Septets
	encoding = EncodingGSM7
	if !gsm {
		single, part = ucs2Single, ucs2Part
		width = utf16.RuneLen // 1, or 2 beyond U+FFFF; never -1 from a string's runes
		encoding = EncodingUCS2
	}
	fill := 0 // units in the current part
	segments = 1
	for _, r := range text {
		w := width(r)
		units += w
		if fill+w > part {
			segments++
			fill = 0
		}
		fill += w
	}
	if units <= single {
		return encoding, 1, units
	}
	return encoding, segments, units
}
