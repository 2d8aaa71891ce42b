// Package csvsafe makes CSV cells safe to open in a spreadsheet.
//
// A breach list is outside input: an attacker controls a name as easily as
// anyone, and a cell such as =HYPERLINK(...) or +cmd|... turns into a
// formula when an operator opens the exported file (CSV injection). Every
// CSV herald writes for people to open — the unreachable report, rejected
// rows — passes its cells through Cells.
package csvsafe

import "strings"

// risky are the characters that make a spreadsheet read a cell as a
// formula (= + - @) or split it (tab, carriage return).
const risky = "=+-@\t\r"

// Cell returns v prefixed with an apostrophe, which spreadsheets show as
// text, when it starts with a formula character; other values unchanged.
func Cell(v string) string {
	if v != "" && strings.ContainsRune(risky, rune(v[0])) {
		return "'" + v
	}
	return v
}

// Cells returns a copy of rec with every cell passed through Cell.
func Cells(rec []string) []string {
	out := make([]string, len(rec))
	for i, v := range rec {
		out[i] = Cell(v)
	}
	return out
}
