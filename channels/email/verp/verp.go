// Package verp makes and checks the signed return paths (VERP addresses)
// herald puts on every e-mail notice, so that a bounce can be traced to the
// delivery it is about and a forged bounce cannot mark anyone's address
// invalid.
//
// A notice for delivery 42 is sent with the envelope sender
//
//	bounces+16-xrylyrw2wzp537uj@bounce.example.org
//
// where "16" is 42 in base 36 and the rest is an 80-bit truncated
// HMAC-SHA256 of the delivery ID in lower-case base 32. Bounces come back
// to that address; Verify recomputes the MAC and returns 42 only when it
// matches. The token uses only lower-case letters and digits, so an MTA
// that lower- or upper-cases local parts does not break it, and it has no
// "=" or other characters that some MTAs quote or reject.
//
// Keys can be rotated: new addresses are signed with the first key, and
// bounces signed with any configured key are accepted, so keep an old key
// for as long as bounces to it may arrive (a few days: MTAs give up
// retrying after five).
package verp

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base32"
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// DefaultLocal is the local part before the "+" when Signer.Local is empty.
const DefaultLocal = "bounces"

// MinKeyBytes is the shortest key Validate accepts: 128 bits, so the MAC
// cannot be forged by guessing the key.
const MinKeyBytes = 16

// macBytes is the length of the truncated MAC: 80 bits, 16 base-32
// characters with no partial character, so every token has exactly one
// spelling.
const macBytes = 10

// macChars is len(encoding of macBytes).
const macChars = macBytes * 8 / 5

// separator divides the base-36 delivery ID from the MAC in a token.
const separator = '-'

// Sentinel errors Verify wraps; callers branch with errors.Is.
var (
	// ErrNotVERP means the address is not one of ours at all: another
	// local part or another domain (a postmaster address, a plain
	// bounces@ mailbox). Such a bounce matches no delivery, but is not a
	// forgery either.
	ErrNotVERP = errors.New("verp: not a VERP address")
	// ErrBadToken means the address has our VERP shape but its token does
	// not verify with any key: a forged or mangled bounce, which must
	// change nothing.
	ErrBadToken = errors.New("verp: bad token")
)

// enc is lower-case base 32 without padding: case-insensitive-safe once
// the input is lower-cased, and free of "=".
var enc = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// Signer makes and verifies VERP addresses. The zero value is unusable:
// set at least one key (and normally Domain) and call Validate at start.
// A Signer is safe for concurrent use once configured.
type Signer struct {
	// Key signs new addresses and verifies returned ones. At least
	// MinKeyBytes of random bytes, kept secret (HERALD_VERP_KEY).
	Key []byte
	// Keys are further keys for rotation: they are accepted when
	// verifying, and Keys[0] signs when Key is empty. Put the new key in
	// Key and the old one in Keys until bounces to it stop arriving.
	Keys [][]byte
	// Domain is the bounce domain, whose MX (or transport) is herald's
	// bounce receiver. Verify accepts only addresses in this domain
	// (case-insensitively) when it is set.
	Domain string
	// Local is the local part before "+"; default DefaultLocal.
	Local string
}

// keys returns the signing key first, then every other accepted key.
func (s *Signer) keys() [][]byte {
	out := make([][]byte, 0, 1+len(s.Keys))
	if len(s.Key) > 0 {
		out = append(out, s.Key)
	}
	for _, k := range s.Keys {
		if len(k) > 0 {
			out = append(out, k)
		}
	}
	return out
}

func (s *Signer) local() string {
	if s.Local == "" {
		return DefaultLocal
	}
	return strings.ToLower(s.Local)
}

// Validate reports a configuration that would make weak or unusable
// addresses: no key, a short key, a local part or domain that cannot
// appear in an address.
func (s *Signer) Validate() error {
	keys := s.keys()
	if len(keys) == 0 {
		return errors.New("verp: no signing key: set a random key of at least 16 bytes")
	}
	for i, k := range keys {
		if len(k) < MinKeyBytes {
			return fmt.Errorf("verp: key %d is %d bytes: use at least %d random bytes", i+1, len(k), MinKeyBytes)
		}
	}
	if !isAtom(s.local()) || strings.ContainsRune(s.local(), '+') {
		return fmt.Errorf("verp: local part %q is not a plain word: use e.g. %q", s.Local, DefaultLocal)
	}
	if s.Domain != "" && !isDomain(s.Domain) {
		return fmt.Errorf("verp: bounce domain %q is not a domain name", s.Domain)
	}
	return nil
}

// Token returns the signed token for deliveryID ("16-xrylyrw2…"), or "" when
// the ID is not positive or no key is set.
func (s *Signer) Token(deliveryID int64) string {
	keys := s.keys()
	if deliveryID <= 0 || len(keys) == 0 {
		return ""
	}
	return token(keys[0], deliveryID)
}

// Address returns the return path for deliveryID,
// Local+Token@Domain, or "" when the ID is not positive or no key is set
// (the e-mail channel then uses the campaign's sender address). Its shape
// fits email.Config.ReturnPath:
//
//	cfg.ReturnPath = func(m *dispatcher.Message) string { return signer.Address(m.DeliveryID) }
func (s *Signer) Address(deliveryID int64) string {
	t := s.Token(deliveryID)
	if t == "" {
		return ""
	}
	addr := s.local() + "+" + t
	if s.Domain != "" {
		addr += "@" + strings.ToLower(s.Domain)
	}
	return addr
}

// Verify returns the delivery ID signed into address. The address may be
// in angle brackets and in any letter case. It fails with ErrNotVERP for
// an address that is not in Local+…@Domain form, and with ErrBadToken
// when the token does not verify with any key.
func (s *Signer) Verify(address string) (int64, error) {
	addr := strings.TrimSpace(address)
	addr = strings.TrimSuffix(strings.TrimPrefix(addr, "<"), ">")
	at := strings.LastIndexByte(addr, '@')
	local, domain := addr, ""
	if at >= 0 {
		local, domain = addr[:at], addr[at+1:]
	}
	if s.Domain != "" && !strings.EqualFold(strings.TrimSuffix(domain, "."), s.Domain) {
		return 0, ErrNotVERP
	}
	prefix := s.local() + "+"
	if len(local) <= len(prefix) || !strings.EqualFold(local[:len(prefix)], prefix) {
		return 0, ErrNotVERP
	}
	return s.VerifyToken(local[len(prefix):])
}

// VerifyToken checks a bare token (the part after "+") and returns its
// delivery ID, or an error wrapping ErrBadToken.
func (s *Signer) VerifyToken(tok string) (int64, error) {
	tok = strings.ToLower(tok)
	i := strings.LastIndexByte(tok, separator)
	if i <= 0 || len(tok)-i-1 != macChars {
		return 0, fmt.Errorf("%w: malformed", ErrBadToken)
	}
	idPart := tok[:i]
	if len(idPart) > 13 || !isBase36(idPart) || idPart[0] == '0' {
		return 0, fmt.Errorf("%w: malformed delivery id", ErrBadToken)
	}
	id, err := strconv.ParseInt(idPart, 36, 64)
	if err != nil || id <= 0 {
		return 0, fmt.Errorf("%w: malformed delivery id", ErrBadToken)
	}
	ok := 0
	for _, k := range s.keys() {
		// Compare every key, so the time taken does not tell which one
		// (if any) was close.
		ok |= subtle.ConstantTimeCompare([]byte(token(k, id)), []byte(tok))
	}
	if ok != 1 {
		return 0, fmt.Errorf("%w: signature does not match", ErrBadToken)
	}
	return id, nil
}

// token is base36(id) "-" base32(HMAC-SHA256(key, "herald-verp-v1" ||
// id as 8 big-endian bytes)[:10]).
func token(key []byte, id int64) string {
	mac := hmac.New(sha256.New, key)
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], uint64(id))
	mac.Write([]byte("herald-verp-v1\x00"))
	mac.Write(b[:])
	sum := mac.Sum(nil)
	return strconv.FormatInt(id, 36) + string(separator) + enc.EncodeToString(sum[:macBytes])
}

func isBase36(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'z') {
			return false
		}
	}
	return s != ""
}

// isAtom reports whether s is a non-empty run of letters, digits, "-",
// "_" and "." that can stand unquoted as a local part.
func isAtom(s string) bool {
	if s == "" || s[0] == '.' || s[len(s)-1] == '.' || strings.Contains(s, "..") {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.' || c == '+') {
			return false
		}
	}
	return true
}

// isDomain reports whether s is an ASCII host name.
func isDomain(s string) bool {
	if len(s) > 253 || strings.ContainsAny(s, "_+") {
		return false
	}
	return isAtom(s)
}
