package email

import (
	"bytes"
	"crypto/rand"
	"mime"
	"mime/quotedprintable"
	"net/mail"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"golang.org/x/text/language"
)

// This file writes the notice as a MIME message. It is written by hand,
// with the standard library's RFC 2047 and quoted-printable encoders, into
// a reused buffer, because at breach scale composing is per-message work:
// measured with `herald bench`, building each notice through go-mail's
// Msg took about 55 µs of CPU and a quarter of a worker's time; this takes
// a fraction of that. What it writes is plain: a text part and an HTML
// part as multipart/alternative (or a single part when one is empty),
// both UTF-8 and quoted-printable, so every line is 7-bit and short
// whatever the templates hold; headers folded at 78 columns, with
// RFC 2047 encoded-words for anything that is not plain ASCII.

// composer holds what stays the same between messages.
type composer struct {
	autoSubmitted bool
	langs         sync.Map // locale as given → Content-Language value ("" when not a language tag)
}

// buffers are reused message buffers; a notice is a few kilobytes.
var buffers = sync.Pool{New: func() any { return bytes.NewBuffer(make([]byte, 0, 8<<10)) }}

// header values of one notice, already validated.
type noticeHeader struct {
	from, to, replyTo *mail.Address // replyTo may be nil
	subject           string
	date              time.Time
	messageID         string // without angle brackets
	deliveryID        int64
	locale            string
}

// compose writes the message into buf.
func (c *composer) compose(buf *bytes.Buffer, h *noticeHeader, text, html string) {
	writeHeader(buf, "Date", h.date.Format(time.RFC1123Z))
	writeHeader(buf, "Message-ID", "<"+h.messageID+">")
	writeHeader(buf, "From", h.from.String())
	writeHeader(buf, "To", h.to.String())
	if h.replyTo != nil {
		writeHeader(buf, "Reply-To", h.replyTo.String())
	}
	writeHeader(buf, "Subject", encodeText(h.subject))
	writeHeader(buf, "MIME-Version", "1.0")
	if lang := c.language(h.locale); lang != "" {
		writeHeader(buf, "Content-Language", lang)
	}
	writeHeader(buf, HeaderDelivery, strconv.FormatInt(h.deliveryID, 10))
	if c.autoSubmitted {
		writeHeader(buf, headerAutoSubmitted, "auto-generated")
	}
	switch {
	case html == "":
		writePart(buf, "text/plain", text)
	case text == "":
		writePart(buf, "text/html", html)
	default:
		// multipart/alternative with text first: clients show the last
		// part they can render.
		boundary := rand.Text()
		writeHeader(buf, "Content-Type", `multipart/alternative; boundary="`+boundary+`"`)
		buf.WriteString("\r\n")
		buf.WriteString("--" + boundary + "\r\n")
		writePart(buf, "text/plain", text)
		buf.WriteString("\r\n--" + boundary + "\r\n")
		writePart(buf, "text/html", html)
		buf.WriteString("\r\n--" + boundary + "--\r\n")
	}
}

// writePart writes a UTF-8 body part's headers and its quoted-printable
// content.
func writePart(buf *bytes.Buffer, contentType, body string) {
	buf.WriteString("Content-Type: " + contentType + "; charset=UTF-8\r\n")
	buf.WriteString("Content-Transfer-Encoding: quoted-printable\r\n\r\n")
	qp := quotedprintable.NewWriter(buf)
	_, _ = qp.Write([]byte(body)) // a bytes.Buffer does not fail
	_ = qp.Close()
}

// language is the Content-Language for a locale, "" when it is none.
func (c *composer) language(locale string) string {
	if locale == "" {
		return ""
	}
	if v, ok := c.langs.Load(locale); ok {
		return v.(string)
	}
	tag, err := language.Parse(locale)
	v := ""
	if err == nil {
		v = tag.String()
	}
	c.langs.Store(locale, v)
	return v
}

// encodeText makes a header's free text safe: line breaks and other
// control characters become spaces, and text that is not plain ASCII, or
// has a word too long to fold, becomes RFC 2047 encoded-words.
func encodeText(s string) string {
	clean := true
	longest, run := 0, 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c >= 0x7f {
			clean = false
		}
		if c == ' ' {
			run = 0
		} else {
			run++
			longest = max(longest, run)
		}
	}
	if clean && longest <= 900 {
		return s
	}
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f || r == utf8.RuneError {
			return ' '
		}
		return r
	}, s)
	return mime.QEncoding.Encode("utf-8", s)
}

// writeHeader writes "Name: value" folded at spaces to keep lines within
// 78 octets where the value allows (encoded-words are at most 75).
func writeHeader(buf *bytes.Buffer, name, value string) {
	buf.WriteString(name)
	buf.WriteString(":")
	line := len(name) + 1
	for len(value) > 0 {
		// The next chunk is a space (if any) and the word after it.
		end := 1
		for end < len(value) && value[end] != ' ' {
			end++
		}
		chunk := value[:end]
		value = value[end:]
		if line == len(name)+1 && chunk[0] != ' ' {
			buf.WriteByte(' ')
			line++
		}
		if chunk[0] == ' ' && len(chunk) > 1 && line+len(chunk) > 78 && line > len(name)+2 {
			buf.WriteString("\r\n")
			line = 0
		}
		buf.WriteString(chunk)
		line += len(chunk)
	}
	buf.WriteString("\r\n")
}
