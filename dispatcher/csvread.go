package dispatcher

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"unicode/utf8"

	"golang.org/x/text/encoding"
	"golang.org/x/text/encoding/charmap"
	"golang.org/x/text/encoding/unicode"
	"golang.org/x/text/transform"
)

// This file reads the CSV that spreadsheets write, a row at a time and in
// constant memory: it finds the text encoding and the delimiter, and it
// parses records leniently enough that one broken row does not cost the
// rows after it. encoding/csv is not used because after a stray quote it
// swallows the rest of the file into one field.

const (
	// csvSniffSize is how much of the file is looked at to guess its
	// encoding and line endings.
	csvSniffSize = 64 << 10
	// csvMaxLine caps one physical line; a longer one is reported and
	// skipped so that a binary file cannot make the reader buffer it all.
	csvMaxLine = 1 << 20
	// csvMaxRecordLines caps how many lines one quoted value may span
	// before the opening quote is taken for a mistake.
	csvMaxRecordLines = 50
)

// Encoding names accepted in ImportOptions.Encoding, as they are reported
// back by ContactReader.Encoding.
const (
	EncodingUTF8        = "utf-8"
	EncodingWindows1252 = "windows-1252"
	EncodingISO88591    = "iso-8859-1"
	EncodingISO885915   = "iso-8859-15"
	EncodingUTF16LE     = "utf-16le"
	EncodingUTF16BE     = "utf-16be"
)

// csvEncodingByName maps a normalised encoding name to its canonical name.
var csvEncodingByName = map[string]string{
	"utf8": EncodingUTF8, "windows1252": EncodingWindows1252, "cp1252": EncodingWindows1252, "win1252": EncodingWindows1252, "ansi": EncodingWindows1252,
	"iso88591": EncodingISO88591, "latin1": EncodingISO88591, "l1": EncodingISO88591,
	"iso885915": EncodingISO885915, "latin9": EncodingISO885915,
	"utf16le": EncodingUTF16LE, "utf16be": EncodingUTF16BE, "utf16": EncodingUTF16LE,
}

// csvEncoding returns the canonical name for a user-given encoding name.
func csvEncoding(name string) (string, error) {
	key := strings.Map(func(r rune) rune {
		if r == '-' || r == '_' || r == ' ' {
			return -1
		}
		return r
	}, strings.ToLower(name))
	if enc, ok := csvEncodingByName[key]; ok {
		return enc, nil
	}
	return "", Errorf(EINVALID, "unknown encoding %q: use utf-8, windows-1252, iso-8859-1, iso-8859-15 or utf-16le", name)
}

// csvText is a decoded import file: UTF-8 text with \n or \r\n line ends.
type csvText struct {
	r        *bufio.Reader
	encoding string // what was used: one of the Encoding constants
	sniffed  bool   // the encoding was guessed rather than given or marked by a BOM
}

// openCSVText decodes r. A byte order mark wins (it cannot appear by
// chance at the start of a CSV file); otherwise enc, when given; otherwise
// the first 64 KiB decide: valid UTF-8 means UTF-8 and anything else
// Windows-1252, the encoding Excel uses for "CSV" on western Windows
// systems. When the guess is UTF-8, a byte later in the file that is not
// valid UTF-8 is still read as Windows-1252, so a file that mixes the two
// (rows pasted from another export) keeps its æøå.
func openCSVText(r io.Reader, enc string) (*csvText, error) {
	br := bufio.NewReaderSize(r, csvSniffSize)
	prefix, err := br.Peek(csvSniffSize)
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("read: %w", err)
	}
	if err := csvCheckNotSpreadsheet(prefix); err != nil {
		return nil, err
	}
	out := &csvText{}
	var dec transform.Transformer
	switch {
	case bytes.HasPrefix(prefix, []byte("\xEF\xBB\xBF")):
		_, _ = br.Discard(3)
		out.encoding, dec = EncodingUTF8, csvUTF8Fallback{}
	case bytes.HasPrefix(prefix, []byte("\xFF\xFE")):
		out.encoding, dec = EncodingUTF16LE, unicode.UTF16(unicode.LittleEndian, unicode.ExpectBOM).NewDecoder()
	case bytes.HasPrefix(prefix, []byte("\xFE\xFF")):
		out.encoding, dec = EncodingUTF16BE, unicode.UTF16(unicode.BigEndian, unicode.ExpectBOM).NewDecoder()
	case enc != "":
		name, err := csvEncoding(enc)
		if err != nil {
			return nil, err
		}
		out.encoding = name
		var e encoding.Encoding
		switch name {
		case EncodingUTF8:
			e = unicode.UTF8
		case EncodingWindows1252:
			e = charmap.Windows1252
		case EncodingISO88591:
			e = charmap.ISO8859_1
		case EncodingISO885915:
			e = charmap.ISO8859_15
		case EncodingUTF16LE:
			e = unicode.UTF16(unicode.LittleEndian, unicode.IgnoreBOM)
		case EncodingUTF16BE:
			e = unicode.UTF16(unicode.BigEndian, unicode.IgnoreBOM)
		}
		dec = e.NewDecoder()
	default:
		if csvLooksUTF16(prefix) {
			return nil, Errorf(EINVALID, "the file looks like UTF-16 text without a byte order mark: pass --encoding utf-16le (or utf-16be), or save it as CSV UTF-8")
		}
		out.sniffed = true
		if csvValidUTF8Prefix(prefix, len(prefix) < csvSniffSize) {
			out.encoding, dec = EncodingUTF8, csvUTF8Fallback{}
		} else {
			out.encoding, dec = EncodingWindows1252, charmap.Windows1252.NewDecoder()
		}
	}
	text := bufio.NewReaderSize(transform.NewReader(br, dec), csvSniffSize)
	// Old Excel for Mac ends lines with a lone CR.
	head, err := text.Peek(csvSniffSize)
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("read: %w", err)
	}
	if bytes.IndexByte(head, '\r') >= 0 && bytes.IndexByte(head, '\n') < 0 {
		text = bufio.NewReaderSize(csvCRReader{text}, csvSniffSize)
	}
	out.r = text
	return out, nil
}

// csvCheckNotSpreadsheet catches the common mistake of importing the
// workbook itself.
func csvCheckNotSpreadsheet(prefix []byte) error {
	switch {
	case bytes.HasPrefix(prefix, []byte("PK\x03\x04")):
		return Errorf(EINVALID, "the file is a zip archive, probably an Excel workbook (.xlsx) or OpenDocument sheet, not CSV: save it as \"CSV UTF-8\" first")
	case bytes.HasPrefix(prefix, []byte("\xD0\xCF\x11\xE0")):
		return Errorf(EINVALID, "the file is an old Excel workbook (.xls), not CSV: save it as \"CSV UTF-8\" first")
	}
	return nil
}

// csvLooksUTF16 reports whether many of the first bytes are NUL, as in
// UTF-16 text of a Latin script.
func csvLooksUTF16(prefix []byte) bool {
	n := min(len(prefix), 512)
	if n < 4 {
		return false
	}
	return bytes.Count(prefix[:n], []byte{0}) > n/4
}

// csvValidUTF8Prefix reports whether p is valid UTF-8, allowing a rune cut
// off at the end when p is only the start of the input.
func csvValidUTF8Prefix(p []byte, whole bool) bool {
	if utf8.Valid(p) {
		return true
	}
	if whole {
		return false
	}
	for cut := 1; cut <= 3 && cut < len(p); cut++ {
		if utf8.Valid(p[:len(p)-cut]) {
			return !utf8.FullRune(p[len(p)-cut:])
		}
	}
	return false
}

// csvUTF8Fallback passes valid UTF-8 through and reads every byte that is
// not part of a valid sequence as Windows-1252.
type csvUTF8Fallback struct{ transform.NopResetter }

// Transform implements transform.Transformer.
func (csvUTF8Fallback) Transform(dst, src []byte, atEOF bool) (nDst, nSrc int, err error) {
	for nSrc < len(src) {
		b := src[nSrc]
		if b < utf8.RuneSelf {
			if nDst >= len(dst) {
				return nDst, nSrc, transform.ErrShortDst
			}
			dst[nDst] = b
			nDst++
			nSrc++
			continue
		}
		r, size := utf8.DecodeRune(src[nSrc:])
		if r == utf8.RuneError && size <= 1 {
			if !atEOF && !utf8.FullRune(src[nSrc:]) {
				return nDst, nSrc, transform.ErrShortSrc
			}
			r, size = charmap.Windows1252.DecodeByte(b), 1
		}
		if nDst+utf8.RuneLen(r) > len(dst) {
			return nDst, nSrc, transform.ErrShortDst
		}
		nDst += utf8.EncodeRune(dst[nDst:], r)
		nSrc += size
	}
	return nDst, nSrc, nil
}

// csvCRReader turns lone-CR line ends into LF.
type csvCRReader struct{ r io.Reader }

func (c csvCRReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	for i := range p[:n] {
		if p[i] == '\r' {
			p[i] = '\n'
		}
	}
	return n, err
}

// csvDelimiters are the delimiters sniffed, in order of preference on a tie.
var csvDelimiters = []byte{';', '\t', ','}

// csvSniffDelimiter reads the delimiter from Excel's "sep=;" hint line, which
// it then consumes, or else picks whichever of ; tab , occurs most often
// outside quotes in the header line. A header with none of them is a
// single column and gets a comma.
func csvSniffDelimiter(text *bufio.Reader) (byte, error) {
	head, err := text.Peek(csvSniffSize)
	if err != nil && !errors.Is(err, io.EOF) {
		return 0, fmt.Errorf("read: %w", err)
	}
	line := head
	if i := bytes.IndexByte(line, '\n'); i >= 0 {
		line = line[:i]
	}
	line = bytes.TrimSuffix(line, []byte("\r"))
	// The header is the first line with text on it.
	for rest := head; len(bytes.TrimSpace(line)) == 0 && len(rest) > 0; {
		i := bytes.IndexByte(rest, '\n')
		if i < 0 {
			line, rest = rest, nil
		} else {
			line, rest = rest[:i], rest[i+1:]
		}
		line = bytes.TrimSuffix(line, []byte("\r"))
	}
	if hint, ok := bytes.CutPrefix(bytes.ToLower(line), []byte("sep=")); ok && len(hint) == 1 {
		d := hint[0]
		if err := csvCheckDelimiter(rune(d)); err == nil {
			_, _ = text.Discard(len(line))
			if b, err := text.Peek(2); err == nil && b[0] == '\r' && b[1] == '\n' {
				_, _ = text.Discard(2)
			} else if len(b) > 0 && (b[0] == '\n' || b[0] == '\r') {
				_, _ = text.Discard(1)
			}
			return d, nil
		}
	}
	counts := map[byte]int{}
	quoted := false
	for _, c := range line {
		if c == '"' {
			quoted = !quoted
			continue
		}
		if !quoted {
			counts[c]++
		}
	}
	best, bestN := byte(','), 0
	for _, d := range csvDelimiters {
		if counts[d] > bestN {
			best, bestN = d, counts[d]
		}
	}
	return best, nil
}

// csvCheckDelimiter accepts a single-byte ASCII delimiter that cannot be
// confused with quoting, line ends or the text itself.
func csvCheckDelimiter(d rune) error {
	if d <= 0 || d >= utf8.RuneSelf || d == '"' || d == '\r' || d == '\n' || d == ' ' ||
		d >= 'a' && d <= 'z' || d >= 'A' && d <= 'Z' || d >= '0' && d <= '9' {
		return Errorf(EINVALID, "delimiter %q cannot be used: use a comma, a semicolon or a tab", d)
	}
	return nil
}

// csvRecord is one record (row) of the file.
type csvRecord struct {
	Row    int      // spreadsheet row number: the first line of the file is row 1
	Fields []string // nil when Err is set
	Raw    string   // the record's text, for the reject report of a malformed row
	Err    *csvRecordError
	Blank  bool // every field is empty: a spacer row, skipped by the importer
}

// csvRecordError says why a record could not be read.
type csvRecordError struct {
	Column int // 0-based field index the problem is in; -1 for the whole row
	Reason string
}

// csvRecordReader splits decoded text into records. Quoted values may span
// lines (up to csvMaxRecordLines). When a record that spans several lines
// turns out malformed, only its first line is reported and reading resumes
// at its second line, so a stray quote costs one row, not the rest of the
// file.
type csvRecordReader struct {
	src     *bufio.Reader
	delim   byte
	fields  int       // expected field count, 0 until the header is read
	back    []csvLine // lines given back by a failed multi-line record
	row     int
	long    []byte // buffer for lines longer than bufio's
	readErr error  // sticky I/O error
}

func newCSVRecordReader(src *bufio.Reader, delim byte) *csvRecordReader {
	return &csvRecordReader{src: src, delim: delim}
}

// csvLine is one physical line without its terminator.
type csvLine struct {
	text    string
	tooLong bool
}

// readLine returns the next line, or io.EOF.
func (cr *csvRecordReader) readLine() (csvLine, error) {
	if n := len(cr.back); n > 0 {
		l := cr.back[0]
		cr.back = cr.back[1:]
		return l, nil
	}
	if cr.readErr != nil {
		return csvLine{}, cr.readErr
	}
	cr.long = cr.long[:0]
	tooLong := false
	for {
		chunk, err := cr.src.ReadSlice('\n')
		if !tooLong {
			if len(cr.long)+len(chunk) > csvMaxLine+2 {
				tooLong = true
				cr.long = cr.long[:0]
			} else if errors.Is(err, bufio.ErrBufferFull) || len(cr.long) > 0 {
				cr.long = append(cr.long, chunk...)
			}
		}
		switch {
		case err == nil:
			if tooLong {
				return csvLine{tooLong: true}, nil
			}
			if len(cr.long) > 0 {
				chunk = cr.long
			}
			chunk = bytes.TrimSuffix(chunk[:len(chunk)-1], []byte("\r"))
			return csvLine{text: string(chunk)}, nil
		case errors.Is(err, bufio.ErrBufferFull):
			continue
		case errors.Is(err, io.EOF):
			cr.readErr = io.EOF
			if tooLong {
				return csvLine{tooLong: true}, nil
			}
			if len(cr.long) > 0 {
				chunk = cr.long
			}
			if len(chunk) == 0 {
				return csvLine{}, io.EOF
			}
			return csvLine{text: string(bytes.TrimSuffix(chunk, []byte("\r")))}, nil
		default:
			cr.readErr = fmt.Errorf("read: %w", err)
			return csvLine{}, cr.readErr
		}
	}
}

// Next returns the next record, or io.EOF after the last one. Other errors
// are I/O errors of the underlying reader; a malformed record is not an
// error but a record with Err set.
func (cr *csvRecordReader) Next() (csvRecord, error) {
	first, err := cr.readLine()
	if err != nil {
		return csvRecord{}, err
	}
	cr.row++
	rec := csvRecord{Row: cr.row}
	if first.tooLong {
		rec.Raw = "(line longer than 1 MiB, not shown)"
		rec.Err = &csvRecordError{Column: -1, Reason: "the line is longer than 1 MiB: check that this is a CSV contact list"}
		return rec, nil
	}
	lines := []csvLine{first}
	text := first.text
	for {
		fields, perr := csvParseRecord(text, cr.delim)
		if perr == nil && csvAllBlank(fields) {
			rec.Fields, rec.Raw, rec.Blank = fields, text, true
			return rec, nil
		}
		if perr == nil {
			fields = cr.trimExtra(fields)
			if cr.fields > 0 && len(fields) != cr.fields {
				if len(lines) > 1 {
					return cr.fail(rec, lines, &csvRecordError{Column: -1, Reason: fmt.Sprintf("a quoted value runs over %d lines and leaves the row with %d fields instead of %d: a quote is probably missing its closing quote", len(lines), len(fields), cr.fields)}), nil
				}
				rec.Raw = text
				rec.Err = &csvRecordError{Column: -1, Reason: cr.countReason(len(fields))}
				return rec, nil
			}
			if cr.swallowsRows(lines) {
				return cr.fail(rec, lines, &csvRecordError{Column: -1, Reason: fmt.Sprintf("a quoted value runs over %d lines that look like rows of their own: a quote is probably missing its closing quote", len(lines))}), nil
			}
			rec.Fields = fields
			rec.Raw = text
			return rec, nil
		}
		if perr != errCSVOpenQuote {
			if len(lines) > 1 {
				return cr.fail(rec, lines, &csvRecordError{Column: -1, Reason: fmt.Sprintf("a quoted value that starts in this row is not closed properly (it runs over %d lines): add the closing quote, or double any quote inside a value (\"\")", len(lines))}), nil
			}
			return cr.fail(rec, lines, perr.(*csvRecordError)), nil
		}
		if len(lines) >= csvMaxRecordLines || len(text) > csvMaxLine {
			return cr.fail(rec, lines, &csvRecordError{Column: -1, Reason: fmt.Sprintf("a quoted value is not closed within %d lines: add the closing quote, or double any quote inside a value (\"\")", len(lines))}), nil
		}
		next, err := cr.readLine()
		if errors.Is(err, io.EOF) {
			return cr.fail(rec, lines, &csvRecordError{Column: -1, Reason: "a quoted value is not closed before the end of the file: add the closing quote, or double any quote inside a value (\"\")"}), nil
		}
		if err != nil {
			return csvRecord{}, err
		}
		lines = append(lines, next)
		if next.tooLong {
			return cr.fail(rec, lines, &csvRecordError{Column: -1, Reason: "a quoted value is not closed before a line longer than 1 MiB: add the closing quote, or double any quote inside a value (\"\")"}), nil
		}
		text += "\n" + next.text
	}
}

// swallowsRows reports whether a record spanning lines has, inside its
// quoted value, a whole line that reads as a row of the file on its own:
// then a stray quote has swallowed rows, and the record is better treated
// as broken so those rows are read again.
func (cr *csvRecordReader) swallowsRows(lines []csvLine) bool {
	if cr.fields < 2 || len(lines) < 3 {
		return false
	}
	for _, l := range lines[1 : len(lines)-1] {
		if f, err := csvParseRecord(l.text, cr.delim); err == nil && len(cr.trimExtra(f)) == cr.fields {
			return true
		}
	}
	return false
}

// fail reports the first of lines as a malformed record and gives the rest
// back to be read as records of their own.
func (cr *csvRecordReader) fail(rec csvRecord, lines []csvLine, e *csvRecordError) csvRecord {
	if len(lines) > 1 {
		cr.back = append(append([]csvLine(nil), lines[1:]...), cr.back...)
	}
	rec.Raw = lines[0].text
	rec.Err = e
	return rec
}

// trimExtra drops empty fields beyond the expected count, as written by
// tools that end every line with a delimiter.
func (cr *csvRecordReader) trimExtra(fields []string) []string {
	if cr.fields == 0 || len(fields) <= cr.fields {
		return fields
	}
	for _, f := range fields[cr.fields:] {
		if strings.TrimSpace(f) != "" {
			return fields
		}
	}
	return fields[:cr.fields]
}

func (cr *csvRecordReader) countReason(n int) string {
	d := csvDelimiterName(cr.delim)
	if n < cr.fields {
		return fmt.Sprintf("the row has %d fields but the header has %d: a %s is missing, or the row was cut short", n, cr.fields, d)
	}
	return fmt.Sprintf("the row has %d fields but the header has %d: a value containing a %s must be in double quotes", n, cr.fields, d)
}

func csvDelimiterName(d byte) string {
	switch d {
	case ',':
		return "comma"
	case ';':
		return "semicolon"
	case '\t':
		return "tab"
	}
	return strconv.QuoteRune(rune(d))
}

func csvAllBlank(fields []string) bool {
	for _, f := range fields {
		if strings.TrimSpace(f) != "" {
			return false
		}
	}
	return true
}

// errCSVOpenQuote means the text ends inside a quoted value: the record
// continues on the next line.
var errCSVOpenQuote = &csvRecordError{Column: -1, Reason: "open quote"}

// csvParseRecord splits one record's text into fields. A value is quoted
// when its first non-space character is a double quote; inside it "" is a
// quote and delimiters and line breaks are data. A quote inside an
// unquoted value is kept as it is (Excel writes those when a cell starts
// with text and has a quote later). Text after a closing quote is an error.
func csvParseRecord(text string, d byte) ([]string, error) {
	fields := make([]string, 0, 8)
	i := 0
	for col := 0; ; col++ {
		j := i
		for j < len(text) && text[j] == ' ' {
			j++
		}
		if j < len(text) && text[j] == '"' {
			var sb strings.Builder
			k := j + 1
			for {
				q := strings.IndexByte(text[k:], '"')
				if q < 0 {
					return nil, errCSVOpenQuote
				}
				sb.WriteString(text[k : k+q])
				k += q + 1
				if k < len(text) && text[k] == '"' {
					sb.WriteByte('"')
					k++
					continue
				}
				break
			}
			for k < len(text) && (text[k] == ' ' || text[k] == '\t' && d != '\t') {
				k++
			}
			fields = append(fields, sb.String())
			if k == len(text) {
				return fields, nil
			}
			if text[k] != d {
				return nil, &csvRecordError{Column: col, Reason: "there is text after the closing quote of a quoted value: put the whole value in quotes and double any quote inside it (\"\")"}
			}
			i = k + 1
			continue
		}
		k := strings.IndexByte(text[i:], d)
		if k < 0 {
			fields = append(fields, text[i:])
			return fields, nil
		}
		fields = append(fields, text[i:i+k])
		i += k + 1
	}
}

// Error implements error so csvRecordError can travel as one.
func (e *csvRecordError) Error() string { return e.Reason }
