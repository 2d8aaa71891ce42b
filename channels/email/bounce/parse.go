package bounce

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"html"
	"io"
	"regexp"
	"strings"

	"github.com/emersion/go-message"
	// Bounces come in every charset: ISO-8859-1 Norwegian, ISO-2022-JP,
	// KOI8-R, Windows-1252 from Exchange.
	_ "github.com/emersion/go-message/charset"
)

// MaxSize is how much of a message Parse reads: 10 MiB. Bounces are small;
// what makes them large is the returned original and its attachments,
// which come after the parts that matter, so a longer message is read up
// to MaxSize and parsed as far as that goes (Report.Truncated is set).
const MaxSize = 10 << 20

// Limits on the MIME structure, so a hostile message costs bounded time.
const (
	maxDepth     = 8       // nesting of multiparts
	maxParts     = 64      // parts visited
	maxTextPart  = 1 << 20 // bytes kept of a text part
	maxTextParts = 8       // text parts kept
)

// ErrEmpty is returned by Parse for input with nothing in it.
var ErrEmpty = errors.New("bounce: empty message")

// Parse reads one returned message from r and says what it is and whom it
// is about. It reads at most MaxSize bytes. Damaged or unrecognised input
// is not an error: it yields a Report of type TypeUnknown, or whatever
// could be read of it; only a failing reader or empty input is. Parse
// never panics.
func Parse(r io.Reader) (*Report, error) {
	data, err := io.ReadAll(io.LimitReader(r, MaxSize+1))
	if err != nil {
		return nil, fmt.Errorf("read bounce message: %w", err)
	}
	truncated := len(data) > MaxSize
	if truncated {
		data = data[:MaxSize]
	}
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, ErrEmpty
	}
	c := collect(data)
	rep := c.report()
	rep.Truncated = truncated
	return rep, nil
}

// collected is what a walk over the MIME tree found.
type collected struct {
	top        fields   // the bounce's own header
	reportType string   // report-type of the first multipart/report
	dsn        [][]byte // bodies of message/delivery-status parts
	feedback   [][]byte // bodies of message/feedback-report parts
	originals  []fields // headers of returned originals
	texts      []string // human-readable text parts, in order
	htmls      []string // HTML parts turned to text, used when there is no plain text
	parts      int
}

// collect parses data into its parts. The top-level header is read
// leniently (go-message refuses some real bounces' headers); the MIME tree
// below it by go-message.
func collect(data []byte) *collected {
	// A message saved from an mbox starts with its "From " separator line.
	if bytes.HasPrefix(data, []byte("From ")) {
		_, data = cutLine(data)
	}
	fs, body := readFields(data)
	c := &collected{top: fs}
	e, err := message.New(toMessageHeader(fs), bytes.NewReader(body))
	if e == nil || (err != nil && !message.IsUnknownCharset(err) && !message.IsUnknownEncoding(err)) {
		c.texts = append(c.texts, capString(string(body), maxTextPart))
		return c
	}
	c.walk(e, 0)
	if len(c.texts) == 0 && len(c.htmls) == 0 && len(c.dsn) == 0 && len(c.feedback) == 0 {
		// Nothing readable came out of the MIME structure (a broken
		// boundary, a multipart without parts): read the body as text.
		c.texts = append(c.texts, capString(string(body), maxTextPart))
	}
	return c
}

// walk visits e and its parts. Returned originals are not descended into:
// only their headers matter.
func (c *collected) walk(e *message.Entity, depth int) {
	c.parts++
	if c.parts > maxParts || depth > maxDepth {
		return
	}
	mt, params, err := e.Header.ContentType()
	if err != nil || mt == "" {
		mt = "text/plain"
	}
	mt = strings.ToLower(mt)
	switch {
	case strings.HasPrefix(mt, "multipart/"):
		if mt == "multipart/report" && c.reportType == "" {
			c.reportType = strings.ToLower(params["report-type"])
		}
		mr := e.MultipartReader()
		if mr == nil {
			return
		}
		for c.parts <= maxParts {
			p, err := mr.NextPart()
			if p == nil || (err != nil && !message.IsUnknownCharset(err) && !message.IsUnknownEncoding(err)) {
				return
			}
			c.walk(p, depth+1)
		}
	case mt == "message/delivery-status", mt == "message/global-delivery-status":
		c.dsn = append(c.dsn, readCapped(e.Body, maxTextPart))
	case mt == "message/feedback-report":
		c.feedback = append(c.feedback, readCapped(e.Body, maxTextPart))
	case mt == "message/rfc822", mt == "message/global", mt == "message/partial":
		if fs := readOriginalHeader(e.Body); len(fs) > 0 {
			c.originals = append(c.originals, fs)
		}
	case mt == "text/rfc822-headers", mt == "message/rfc822-headers", mt == "text/rfc822-header",
		mt == "message/global-headers", mt == "text/global-headers":
		if fs, _ := readFields(readCapped(e.Body, maxTextPart)); len(fs) > 0 {
			c.originals = append(c.originals, fs)
		}
	case mt == "text/html":
		if len(c.htmls) < maxTextParts {
			c.htmls = append(c.htmls, htmlToText(string(readCapped(e.Body, maxTextPart))))
		}
	case strings.HasPrefix(mt, "text/"):
		if len(c.texts) >= maxTextParts {
			return
		}
		b := readCapped(e.Body, maxTextPart)
		// Some MTAs label the machine-readable part text/plain.
		switch {
		case reDSNFields.Match(b):
			c.dsn = append(c.dsn, b)
		case c.reportType == "feedback-report" && reFeedbackFields.Match(b):
			c.feedback = append(c.feedback, b)
		}
		c.texts = append(c.texts, string(b))
	}
}

var (
	reDSNFields      = regexp.MustCompile(`(?im)^(?:final|original)-recipient:.*\n(?:.*\n){0,12}?(?:action|status):`)
	reFeedbackFields = regexp.MustCompile(`(?im)^feedback-type:`)
)

// readCapped reads up to limit bytes of r; a read error (bad base64, a
// truncated part) ends the read with what was decoded so far.
func readCapped(r io.Reader, limit int64) []byte {
	b, _ := io.ReadAll(io.LimitReader(r, limit))
	return b
}

// readOriginalHeader reads the header of a returned message.
func readOriginalHeader(r io.Reader) fields {
	br := bufio.NewReaderSize(io.LimitReader(r, maxHeaderBytes), 64<<10)
	var buf bytes.Buffer
	for buf.Len() < maxHeaderBytes {
		line, err := br.ReadSlice('\n')
		buf.Write(line)
		if len(bytes.TrimSpace(line)) == 0 && buf.Len() > len(line) {
			break
		}
		if err != nil && !errors.Is(err, bufio.ErrBufferFull) {
			break
		}
	}
	fs, _ := readFields(buf.Bytes())
	return fs
}

func capString(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

var (
	reHTMLBreak   = regexp.MustCompile(`(?i)<\s*(?:br|/p|/div|/tr|/li|/h\d|/table|p|div|tr|li|h\d)\b[^>]*>`)
	reHTMLDrop    = regexp.MustCompile(`(?is)<\s*(script|style|head)\b.*?<\s*/\s*(?:script|style|head)\s*>`)
	reHTMLTag     = regexp.MustCompile(`(?s)<[^>]*>`)
	reHTMLComment = regexp.MustCompile(`(?s)<!--.*?-->`)
	reBlankRun    = regexp.MustCompile(`\n[ \t]*(?:\n[ \t]*){2,}`)
)

// htmlToText turns an HTML part into text good enough to read a bounce
// from: block elements become line breaks, tags go, entities are decoded.
func htmlToText(s string) string {
	s = reHTMLComment.ReplaceAllString(s, " ")
	s = reHTMLDrop.ReplaceAllString(s, " ")
	s = strings.NewReplacer("\r\n", " ", "\n", " ", "\r", " ").Replace(s)
	s = reHTMLBreak.ReplaceAllString(s, "\n")
	s = reHTMLTag.ReplaceAllString(s, "")
	s = html.UnescapeString(s)
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		lines[i] = strings.Join(strings.Fields(l), " ")
	}
	s = strings.Join(lines, "\n")
	return strings.TrimSpace(reBlankRun.ReplaceAllString(s, "\n\n"))
}
