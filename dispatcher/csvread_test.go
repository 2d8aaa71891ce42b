package dispatcher

import (
	"bytes"
	"errors"
	"io"
	"reflect"
	"strings"
	"testing"

	"golang.org/x/text/encoding"
	"golang.org/x/text/encoding/charmap"
	"golang.org/x/text/encoding/unicode"
)

// csvTestEncode encodes UTF-8 text s with e, failing the test on a
// character e cannot hold.
func csvTestEncode(t testing.TB, e encoding.Encoding, s string) []byte {
	t.Helper()
	b, err := e.NewEncoder().Bytes([]byte(s))
	if err != nil {
		t.Fatalf("encode %q: %v", s, err)
	}
	return b
}

func csvTestReadAll(t *testing.T, text *csvText) string {
	t.Helper()
	b, err := io.ReadAll(text.r)
	if err != nil {
		t.Fatalf("read decoded text: %v", err)
	}
	return string(b)
}

func TestOpenCSVTextEncodings(t *testing.T) {
	const nordic = "navn;by\nBjørn Håkon Ødegård;Tromsø\nÅse Kværnø;Ærøskøbing\nZoë de Vries;Café Noël\n"
	const cp1252Only = "navn\nŠimun Žižek – €5 “sitat”\n"
	utf16le := unicode.UTF16(unicode.LittleEndian, unicode.UseBOM)
	utf16be := unicode.UTF16(unicode.BigEndian, unicode.UseBOM)
	longASCII := strings.Repeat("a;b\n", csvSniffSize/4+10)
	tests := []struct {
		name     string
		in       []byte
		enc      string
		want     string
		wantEnc  string
		wantSnif bool
	}{
		{"utf-8", []byte(nordic), "", nordic, EncodingUTF8, true},
		{"utf-8 with BOM", append([]byte("\xEF\xBB\xBF"), nordic...), "", nordic, EncodingUTF8, false},
		{"windows-1252 sniffed", csvTestEncode(t, charmap.Windows1252, nordic), "", nordic, EncodingWindows1252, true},
		{"windows-1252 only characters", csvTestEncode(t, charmap.Windows1252, cp1252Only), "", cp1252Only, EncodingWindows1252, true},
		{"iso-8859-1 sniffed as windows-1252", csvTestEncode(t, charmap.ISO8859_1, nordic), "", nordic, EncodingWindows1252, true},
		{"iso-8859-1 given", csvTestEncode(t, charmap.ISO8859_1, nordic), "latin1", nordic, EncodingISO88591, false},
		{"windows-1252 given as cp1252", csvTestEncode(t, charmap.Windows1252, nordic), "CP1252", nordic, EncodingWindows1252, false},
		{"iso-8859-15 given", csvTestEncode(t, charmap.ISO8859_15, "navn\nŠ€\n"), "iso-8859-15", "navn\nŠ€\n", EncodingISO885915, false},
		{"utf-8 given", []byte(nordic), "UTF-8", nordic, EncodingUTF8, false},
		{"given encoding wins over content", []byte("navn\nø\n"), "windows-1252", "navn\nÃ¸\n", EncodingWindows1252, false},
		{"BOM wins over given encoding", append([]byte("\xEF\xBB\xBF"), "navn\nø\n"...), "windows-1252", "navn\nø\n", EncodingUTF8, false},
		{"utf-16le with BOM", csvTestEncode(t, utf16le, nordic), "", nordic, EncodingUTF16LE, false},
		{"utf-16be with BOM", csvTestEncode(t, utf16be, nordic), "", nordic, EncodingUTF16BE, false},
		{"utf-16le given", csvTestEncode(t, unicode.UTF16(unicode.LittleEndian, unicode.IgnoreBOM), nordic), "utf-16le", nordic, EncodingUTF16LE, false},
		{"utf-8 then windows-1252 after the sniffed prefix",
			append([]byte(longASCII), csvTestEncode(t, charmap.Windows1252, "Bjørn;Ødegård\n")...), "",
			longASCII + "Bjørn;Ødegård\n", EncodingUTF8, true},
		{"utf-8 with a stray windows-1252 byte mid-file",
			append(append([]byte(longASCII), "Åse;Bjørn\n"...), csvTestEncode(t, charmap.Windows1252, "Kværnø\n")...), "",
			longASCII + "Åse;Bjørn\nKværnø\n", EncodingUTF8, true},
		{"lone CR line ends", []byte("navn;mobil\rÅse;+4791234567\r"), "", "navn;mobil\nÅse;+4791234567\n", EncodingUTF8, true},
		{"CRLF kept", []byte("navn\r\nÅse\r\n"), "", "navn\r\nÅse\r\n", EncodingUTF8, true},
		{"empty", nil, "", "", EncodingUTF8, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			text, err := openCSVText(bytes.NewReader(tt.in), tt.enc)
			if err != nil {
				t.Fatal(err)
			}
			if got := csvTestReadAll(t, text); got != tt.want {
				t.Errorf("decoded %q, want %q", csvTestTail(got), csvTestTail(tt.want))
			}
			if text.encoding != tt.wantEnc || text.sniffed != tt.wantSnif {
				t.Errorf("encoding %q sniffed %v, want %q %v", text.encoding, text.sniffed, tt.wantEnc, tt.wantSnif)
			}
		})
	}
}

func csvTestTail(s string) string {
	if len(s) > 80 {
		return "..." + s[len(s)-80:]
	}
	return s
}

func TestOpenCSVTextRefuses(t *testing.T) {
	tests := []struct {
		name string
		in   []byte
		enc  string
		want string
	}{
		{"xlsx", []byte("PK\x03\x04\x14\x00\x06\x00rest of zip"), "", ".xlsx"},
		{"xls", []byte("\xD0\xCF\x11\xE0\xA1\xB1\x1A\xE1"), "", ".xls"},
		{"utf-16 without BOM", csvTestEncode(t, unicode.UTF16(unicode.LittleEndian, unicode.IgnoreBOM), "navn;e-post\nOla;ola@example.no\n"), "", "utf-16le"},
		{"unknown encoding", []byte("navn\n"), "ebcdic", "unknown encoding"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := openCSVText(bytes.NewReader(tt.in), tt.enc)
			if err == nil || !strings.Contains(err.Error(), tt.want) || ErrorCode(err) != EINVALID {
				t.Fatalf("err = %v, want EINVALID mentioning %q", err, tt.want)
			}
		})
	}
}

func TestOpenCSVTextReadError(t *testing.T) {
	boom := errors.New("disk on fire")
	_, err := openCSVText(io.MultiReader(strings.NewReader("navn\n"), csvTestErrReader{boom}), "")
	if !errors.Is(err, boom) {
		t.Fatalf("err = %v, want %v", err, boom)
	}
}

type csvTestErrReader struct{ err error }

func (r csvTestErrReader) Read([]byte) (int, error) { return 0, r.err }

func TestCSVSniffDelimiter(t *testing.T) {
	tests := []struct {
		name, in string
		want     byte
		rest     string // what remains to be read
	}{
		{"comma", "name,email,phone\na,b,c\n", ',', ""},
		{"semicolon", "navn;e-post;mobil\na;b;c\n", ';', ""},
		{"tab", "naam\te-mail\tmobiel\n", '\t', ""},
		{"semicolon with commas in a quoted header", "\"Navn, fullt\";e-post;mobil\n", ';', ""},
		{"comma with semicolons in quotes", "\"a;b;c\",email,phone\n", ',', ""},
		{"semicolons in unquoted values count", "navn;e-post, privat;mobil\n", ';', ""},
		{"single column", "email\nola@example.no\n", ',', ""},
		{"excel sep hint", "sep=;\nnavn,x;e-post\n", ';', "navn,x;e-post\n"},
		{"excel sep hint CRLF", "sep=,\r\nnavn;e-post,mobil\r\n", ',', "navn;e-post,mobil\r\n"},
		{"excel sep hint tab", "SEP=\t\nnavn\te-post\n", '\t', "navn\te-post\n"},
		{"no newline", "a;b", ';', ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			text, err := openCSVText(strings.NewReader(tt.in), "")
			if err != nil {
				t.Fatal(err)
			}
			got, err := csvSniffDelimiter(text.r)
			if err != nil || got != tt.want {
				t.Fatalf("delimiter %q, %v; want %q", got, err, tt.want)
			}
			if tt.rest != "" {
				if rest := csvTestReadAll(t, text); rest != tt.rest {
					t.Errorf("left %q, want %q", rest, tt.rest)
				}
			}
		})
	}
}

// csvTestRec is what a test expects of one record.
type csvTestRec struct {
	Row    int
	Fields []string
	Err    string // substring of the reason
	Blank  bool
}

func TestCSVRecordReader(t *testing.T) {
	type rec = csvTestRec
	ok := func(row int, f ...string) rec { return rec{Row: row, Fields: f} }
	bad := func(row int, reason string) rec { return rec{Row: row, Err: reason} }
	tests := []struct {
		name   string
		in     string
		fields int
		want   []rec
	}{
		{"plain", "a;b\nc;d\n", 2, []rec{ok(1, "a", "b"), ok(2, "c", "d")}},
		{"no final newline", "a;b\nc;d", 2, []rec{ok(1, "a", "b"), ok(2, "c", "d")}},
		{"CRLF", "a;b\r\nc;d\r\n", 2, []rec{ok(1, "a", "b"), ok(2, "c", "d")}},
		{"quoted delimiter and quotes", "\"a;1\";\"say \"\"hi\"\"\"\n", 2, []rec{ok(1, "a;1", "say \"hi\"")}},
		{"empty quoted and trailing empty", "\"\";\n", 2, []rec{{Row: 1, Fields: []string{"", ""}, Blank: true}}},
		{"spaces around quoted value", "  \"a\"  ;b\n", 2, []rec{ok(1, "a", "b")}},
		{"quote inside unquoted value is data", "O\"Brien;b\n", 2, []rec{ok(1, "O\"Brien", "b")}},
		{"multi-line value is one row", "x;y\n\"line 1\nline 2\";z\nc;d\n", 2,
			[]rec{ok(1, "x", "y"), ok(2, "line 1\nline 2", "z"), ok(3, "c", "d")}},
		{"blank lines count as rows", "a;b\n\n;\nc;d\n", 2,
			[]rec{ok(1, "a", "b"), {Row: 2, Fields: []string{""}, Blank: true}, {Row: 3, Fields: []string{"", ""}, Blank: true}, ok(4, "c", "d")}},
		{"unterminated quote costs one row", "a;b\n\"oops;x\nc;d\ne;f\n", 2,
			[]rec{ok(1, "a", "b"), bad(2, "not closed before the end"), ok(3, "c", "d"), ok(4, "e", "f")}},
		{"quote closed rows later with the right count", "a;b\n\"oops;x\nc;d\ne\";f\ng;h\n", 2,
			[]rec{ok(1, "a", "b"), bad(2, "look like rows of their own"), ok(3, "c", "d"), ok(4, "e\"", "f"), ok(5, "g", "h")}},
		{"quote closed rows later with the wrong count", "a;b\n\"oops;x\nc;d\ne\";f;g\nh;i\n", 2,
			[]rec{ok(1, "a", "b"), bad(2, "runs over 3 lines"), ok(3, "c", "d"), bad(4, "3 fields"), ok(5, "h", "i")}},
		{"multi-line value with no row-like lines", "a;b\n\"Storgata 1\nPostboks 5\n0150 Oslo\";x\n", 2,
			[]rec{ok(1, "a", "b"), ok(2, "Storgata 1\nPostboks 5\n0150 Oslo", "x")}},
		{"text after closing quote", "\"a\"b;c\nd;e\n", 2, []rec{bad(1, "after the closing quote"), ok(2, "d", "e")}},
		{"too few fields", "a;b;c\nd;e\n", 3, []rec{ok(1, "a", "b", "c"), bad(2, "a semicolon is missing")}},
		{"too many fields", "a;b\nc;d;e\n", 2, []rec{ok(1, "a", "b"), bad(2, "must be in double quotes")}},
		{"extra empty fields are dropped", "a;b\nc;d;;  ;\n", 2, []rec{ok(1, "a", "b"), ok(2, "c", "d")}},
		{"any count before the header is known", "a\nb;c\n", 0, []rec{ok(1, "a"), ok(2, "b", "c")}},
		{"too long line", "a;b\n" + strings.Repeat("x", csvMaxLine+10) + "\nc;d\n", 2,
			[]rec{ok(1, "a", "b"), bad(2, "longer than 1 MiB"), ok(3, "c", "d")}},
		{"quote open into a too long line", "a;b\n\"x;y\n" + strings.Repeat("x", csvMaxLine+10) + "\nc;d\n", 2,
			[]rec{ok(1, "a", "b"), bad(2, "longer than 1 MiB"), bad(3, "longer than 1 MiB"), ok(4, "c", "d")}},
		{"quote open too many lines", "a;b\n\"x;y\n" + strings.Repeat("c;d\n", csvMaxRecordLines+1), 2,
			append([]rec{ok(1, "a", "b"), bad(2, "not closed within 50 lines")}, csvTestRepeat(3, csvMaxRecordLines+1, "c", "d")...)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			text, err := openCSVText(strings.NewReader(tt.in), "")
			if err != nil {
				t.Fatal(err)
			}
			cr := newCSVRecordReader(text.r, ';')
			cr.fields = tt.fields
			var got []rec
			for {
				r, err := cr.Next()
				if errors.Is(err, io.EOF) {
					break
				}
				if err != nil {
					t.Fatal(err)
				}
				g := rec{Row: r.Row, Fields: r.Fields, Blank: r.Blank}
				if r.Err != nil {
					g.Err = r.Err.Reason
				}
				got = append(got, g)
			}
			if len(got) != len(tt.want) {
				t.Fatalf("got %d records %+v, want %d %+v", len(got), got, len(tt.want), tt.want)
			}
			for i := range got {
				g, w := got[i], tt.want[i]
				if g.Row != w.Row || g.Blank != w.Blank || w.Err == "" && !reflect.DeepEqual(g.Fields, w.Fields) ||
					w.Err == "" && g.Err != "" || w.Err != "" && !strings.Contains(g.Err, w.Err) {
					t.Errorf("record %d = %+v, want %+v", i, g, w)
				}
			}
		})
	}
}

func csvTestRepeat(from, n int, fields ...string) []csvTestRec {
	out := make([]csvTestRec, n)
	for i := range out {
		out[i] = csvTestRec{Row: from + i, Fields: fields}
	}
	return out
}
