package verp_test

import (
	"errors"
	"math"
	"strings"
	"testing"

	"github.com/heraldhq/herald/channels/email/verp"
)

var (
	keyA = []byte("0123456789abcdef0123456789abcdef")
	keyB = []byte("fedcba9876543210fedcba9876543210")
)

func signer() *verp.Signer {
	return &verp.Signer{Key: keyA, Domain: "bounce.example.org"}
}

func TestAddressRoundTrip(t *testing.T) {
	s := signer()
	for _, id := range []int64{1, 42, 35, 36, 1 << 31, 9_999_999_999, math.MaxInt64} {
		addr := s.Address(id)
		if !strings.HasPrefix(addr, "bounces+") || !strings.HasSuffix(addr, "@bounce.example.org") {
			t.Fatalf("Address(%d) = %q, want bounces+…@bounce.example.org", id, addr)
		}
		if strings.ContainsAny(addr, "=/ ") || addr != strings.ToLower(addr) {
			t.Errorf("Address(%d) = %q has characters an MTA may mangle", id, addr)
		}
		for _, variant := range []string{addr, strings.ToUpper(addr), "<" + addr + ">", " " + addr + "\t", strings.TrimSuffix(addr, "g") + "g."} {
			got, err := s.Verify(variant)
			if err != nil || got != id {
				t.Errorf("Verify(%q) = %d, %v; want %d", variant, got, err, id)
			}
		}
	}
}

func TestAddressIsShort(t *testing.T) {
	// A local part must stay well under the 64 octets SMTP allows.
	local, _, _ := strings.Cut(signer().Address(math.MaxInt64), "@")
	if len(local) > 40 {
		t.Errorf("local part %q is %d characters; want at most 40", local, len(local))
	}
}

func TestAddressUnusable(t *testing.T) {
	for _, tc := range []struct {
		name string
		s    *verp.Signer
		id   int64
	}{
		{"zero id", signer(), 0},
		{"negative id", signer(), -5},
		{"no key", &verp.Signer{Domain: "bounce.example.org"}, 42},
	} {
		if got := tc.s.Address(tc.id); got != "" {
			t.Errorf("%s: Address = %q, want empty (the channel then falls back to the sender)", tc.name, got)
		}
	}
}

func TestVerifyRejects(t *testing.T) {
	s := signer()
	good := s.Address(42)
	local, domain, _ := strings.Cut(good, "@")
	tok := strings.TrimPrefix(local, "bounces+")
	idPart, mac, _ := strings.Cut(tok, "-")

	flip := func(str string, i int) string {
		b := []byte(str)
		if b[i] == 'a' {
			b[i] = 'b'
		} else {
			b[i] = 'a'
		}
		return string(b)
	}
	other := &verp.Signer{Key: keyB, Domain: "bounce.example.org"}

	for _, tc := range []struct {
		name string
		addr string
		want error
	}{
		{"other domain", local + "@example.org", verp.ErrNotVERP},
		{"no domain", local, verp.ErrNotVERP},
		{"other local part", "postmaster@" + domain, verp.ErrNotVERP},
		{"plain bounces mailbox", "bounces@" + domain, verp.ErrNotVERP},
		{"empty token", "bounces+@" + domain, verp.ErrNotVERP},
		{"empty", "", verp.ErrNotVERP},
		{"tampered mac first", "bounces+" + idPart + "-" + flip(mac, 0) + "@" + domain, verp.ErrBadToken},
		{"tampered mac last", "bounces+" + idPart + "-" + flip(mac, len(mac)-1) + "@" + domain, verp.ErrBadToken},
		{"other delivery, same mac", "bounces+" + "17-" + mac + "@" + domain, verp.ErrBadToken},
		{"leading zero", "bounces+0" + idPart + "-" + mac + "@" + domain, verp.ErrBadToken},
		{"plus sign", "bounces++" + idPart + "-" + mac + "@" + domain, verp.ErrBadToken},
		{"minus sign", "bounces+-" + idPart + "-" + mac + "@" + domain, verp.ErrBadToken},
		{"short mac", "bounces+" + idPart + "-" + mac[:12] + "@" + domain, verp.ErrBadToken},
		{"long mac", "bounces+" + idPart + "-" + mac + "a@" + domain, verp.ErrBadToken},
		{"no separator", "bounces+" + idPart + mac + "@" + domain, verp.ErrBadToken},
		{"bare id", "bounces+42@" + domain, verp.ErrBadToken},
		{"signed with another key", other.Address(42), verp.ErrBadToken},
		{"id overflow", "bounces+zzzzzzzzzzzzz-" + mac + "@" + domain, verp.ErrBadToken},
	} {
		t.Run(tc.name, func(t *testing.T) {
			id, err := s.Verify(tc.addr)
			if !errors.Is(err, tc.want) || id != 0 {
				t.Errorf("Verify(%q) = %d, %v; want 0, %v", tc.addr, id, err, tc.want)
			}
		})
	}
}

func TestKeyRotation(t *testing.T) {
	old := &verp.Signer{Key: keyA, Domain: "bounce.example.org"}
	rotated := &verp.Signer{Key: keyB, Keys: [][]byte{keyA}, Domain: "bounce.example.org"}
	keysOnly := &verp.Signer{Keys: [][]byte{keyB, keyA}, Domain: "bounce.example.org"}
	retired := &verp.Signer{Key: keyB, Domain: "bounce.example.org"}

	oldAddr := old.Address(7)
	if id, err := rotated.Verify(oldAddr); err != nil || id != 7 {
		t.Errorf("rotated signer rejects an address signed with the old key: %d, %v", id, err)
	}
	if id, err := keysOnly.Verify(oldAddr); err != nil || id != 7 {
		t.Errorf("Keys-only signer rejects an address signed with Keys[1]: %d, %v", id, err)
	}
	newAddr := rotated.Address(7)
	if newAddr == oldAddr {
		t.Fatal("rotated signer still signs with the old key")
	}
	if keysOnly.Address(7) != newAddr {
		t.Errorf("Keys[0] should sign when Key is empty: %q vs %q", keysOnly.Address(7), newAddr)
	}
	if _, err := old.Verify(newAddr); !errors.Is(err, verp.ErrBadToken) {
		t.Errorf("old signer accepts an address signed with the new key: %v", err)
	}
	if _, err := retired.Verify(oldAddr); !errors.Is(err, verp.ErrBadToken) {
		t.Errorf("a retired key is still accepted: %v", err)
	}
}

func TestLocalAndNoDomain(t *testing.T) {
	s := &verp.Signer{Key: keyA, Local: "Herald-Bounce"}
	addr := s.Address(99)
	if !strings.HasPrefix(addr, "herald-bounce+") || strings.Contains(addr, "@") {
		t.Fatalf("Address = %q, want herald-bounce+<token> with no domain", addr)
	}
	// Without a Domain any domain is accepted; the local part must match.
	if id, err := s.Verify(addr + "@anything.example"); err != nil || id != 99 {
		t.Errorf("Verify = %d, %v", id, err)
	}
	if _, err := s.Verify(strings.Replace(addr, "herald-bounce", "bounces", 1) + "@x.example"); !errors.Is(err, verp.ErrNotVERP) {
		t.Errorf("another local part verified: %v", err)
	}
	if id, err := s.VerifyToken(strings.ToUpper(s.Token(99))); err != nil || id != 99 {
		t.Errorf("VerifyToken(upper) = %d, %v", id, err)
	}
}

func TestValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		s    verp.Signer
		ok   bool
	}{
		{"good", verp.Signer{Key: keyA, Domain: "bounce.example.org"}, true},
		{"keys only", verp.Signer{Keys: [][]byte{keyA}, Domain: "bounce.example.org"}, true},
		{"no key", verp.Signer{Domain: "bounce.example.org"}, false},
		{"short key", verp.Signer{Key: []byte("short"), Domain: "bounce.example.org"}, false},
		{"short rotated key", verp.Signer{Key: keyA, Keys: [][]byte{[]byte("x")}}, false},
		{"bad local", verp.Signer{Key: keyA, Local: "bounce box"}, false},
		{"plus in local", verp.Signer{Key: keyA, Local: "a+b"}, false},
		{"bad domain", verp.Signer{Key: keyA, Domain: "bounce example"}, false},
		{"domain with at", verp.Signer{Key: keyA, Domain: "x@bounce.example"}, false},
	} {
		err := tc.s.Validate()
		if (err == nil) != tc.ok {
			t.Errorf("%s: Validate() = %v, want ok=%t", tc.name, err, tc.ok)
		}
	}
}

func FuzzVerify(f *testing.F) {
	s := signer()
	f.Add(s.Address(42))
	f.Add(strings.ToUpper(s.Address(1)))
	f.Add("<" + s.Address(math.MaxInt64) + ">")
	f.Add("bounces+0-aaaaaaaaaaaaaaaa@bounce.example.org")
	f.Add("bounces+-1-aaaaaaaaaaaaaaaa@bounce.example.org")
	f.Add("bounces+@bounce.example.org")
	f.Add("@")
	f.Add("")
	f.Fuzz(func(t *testing.T, addr string) {
		id, err := s.Verify(addr)
		if err != nil {
			if id != 0 {
				t.Fatalf("Verify(%q) returned id %d with error %v", addr, id, err)
			}
			if !errors.Is(err, verp.ErrBadToken) && !errors.Is(err, verp.ErrNotVERP) {
				t.Fatalf("Verify(%q) error %v is neither sentinel", addr, err)
			}
			return
		}
		// Anything that verifies must be exactly what we signed, up to
		// case, brackets, spaces and a root dot.
		norm := strings.ToLower(strings.Trim(strings.TrimSpace(addr), "<>"))
		norm = strings.TrimSuffix(norm, ".")
		if id <= 0 || norm != s.Address(id) {
			t.Fatalf("Verify(%q) = %d, but Address(%d) = %q", addr, id, id, s.Address(id))
		}
	})
}
