package bounce

import (
	"bytes"
	"io"
	"mime"
	"net/mail"
	"strings"

	"github.com/emersion/go-message"
)

// field is one header field, unfolded.
type field struct {
	name  string // lower-cased
	value string
}

// fields is a header block in order, as read by readFields.
type fields []field

// get returns the first value of name (lower-case), or "".
func (fs fields) get(name string) string {
	for _, f := range fs {
		if f.name == name {
			return f.value
		}
	}
	return ""
}

// all returns every value of name (lower-case).
func (fs fields) all(name string) []string {
	var vs []string
	for _, f := range fs {
		if f.name == name {
			vs = append(vs, f.value)
		}
	}
	return vs
}

// Limits of the lenient header reader.
const (
	maxHeaderBytes  = 1 << 20
	maxHeaderFields = 2000
)

// readFields reads header fields from the start of b up to the first empty
// line, and returns them and the rest of b. It is lenient where real
// bounces are sloppy: lines that are neither "Name: value" nor a
// continuation are skipped rather than ending the header, CR LF and LF
// both end lines, and a block that does not start with a field has no
// header at all (fields is empty and rest is b).
func readFields(b []byte) (fs fields, rest []byte) {
	rest = b
	first := true
	for len(rest) > 0 && len(b)-len(rest) < maxHeaderBytes && len(fs) < maxHeaderFields {
		line, next := cutLine(rest)
		trimmed := bytes.TrimRight(line, "\r")
		if len(bytes.TrimSpace(trimmed)) == 0 {
			if first {
				// Leading blank lines before a header block (seen in
				// text/rfc822-headers parts) are skipped.
				rest = next
				continue
			}
			return fs, next
		}
		if trimmed[0] == ' ' || trimmed[0] == '\t' {
			if len(fs) > 0 {
				fs[len(fs)-1].value = joinFolded(fs[len(fs)-1].value, string(bytes.TrimSpace(trimmed)))
			}
			rest = next
			continue
		}
		name, value, ok := splitField(trimmed)
		if !ok {
			if first {
				return nil, b
			}
			// A stray line inside a header: skip it.
			rest = next
			continue
		}
		first = false
		fs = append(fs, field{name: name, value: value})
		rest = next
	}
	return fs, rest
}

func joinFolded(a, b string) string {
	if a == "" {
		return b
	}
	return a + " " + b
}

// cutLine splits b after the first "\n".
func cutLine(b []byte) (line, rest []byte) {
	if i := bytes.IndexByte(b, '\n'); i >= 0 {
		return b[:i], b[i+1:]
	}
	return b, nil
}

// splitField splits "Name: value"; the name must be printable ASCII
// without spaces, as RFC 5322 requires.
func splitField(line []byte) (name, value string, ok bool) {
	i := bytes.IndexByte(line, ':')
	if i <= 0 || i > 76 {
		return "", "", false
	}
	for _, c := range line[:i] {
		if c <= ' ' || c > '~' {
			return "", "", false
		}
	}
	return strings.ToLower(string(line[:i])), strings.TrimSpace(string(line[i+1:])), true
}

// toMessageHeader builds a go-message header from lenient fields, so the
// MIME machinery can run on a message whose header go-message would
// refuse.
func toMessageHeader(fs fields) message.Header {
	var h message.Header
	// textproto.Header.Add prepends; add in reverse to keep the order.
	for i := len(fs) - 1; i >= 0; i-- {
		v := strings.Map(func(r rune) rune {
			if r == '\r' || r == '\n' {
				return ' '
			}
			return r
		}, fs[i].value)
		h.Add(fs[i].name, v)
	}
	return h
}

var wordDecoder = mime.WordDecoder{CharsetReader: func(charset string, input io.Reader) (io.Reader, error) {
	if message.CharsetReader == nil {
		return input, nil
	}
	return message.CharsetReader(strings.ToLower(charset), input)
}}

// decodeWords decodes RFC 2047 encoded words, leaving s as it is when it
// cannot.
func decodeWords(s string) string {
	if !strings.Contains(s, "=?") {
		return s
	}
	d, err := wordDecoder.DecodeHeader(s)
	if err != nil {
		return s
	}
	return d
}

// addresses extracts the addresses from a header value: an address list
// when it parses as one, otherwise anything that looks like an address.
func addresses(v string) []string {
	v = strings.TrimSpace(v)
	if v == "" {
		return nil
	}
	if list, err := mail.ParseAddressList(v); err == nil {
		out := make([]string, 0, len(list))
		for _, a := range list {
			out = append(out, a.Address)
		}
		return out
	}
	return findAddresses(v)
}
