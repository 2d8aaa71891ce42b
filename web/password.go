package web

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/crypto/argon2"

	"github.com/heraldhq/herald/dispatcher"
)

// argonParams are the cost of one password hash. The defaults follow
// OWASP's argon2id recommendation (19 MiB, 2 passes, 1 lane): about 30 ms
// on one core, which makes guessing a stolen hash slow without making
// sign-in slow. They are written into every hash, so raising them later
// keeps old hashes valid.
type argonParams struct {
	memory  uint32 // KiB
	time    uint32
	threads uint8
	keyLen  uint32
}

// hashParams is what HashPassword uses; tests lower it.
var hashParams = argonParams{memory: 19 * 1024, time: 2, threads: 1, keyLen: 32}

// Limits on what VerifyPassword accepts from a stored hash, so that a
// tampered row cannot make a sign-in allocate gigabytes.
const (
	maxArgonMemory = 1 << 20 // 1 GiB in KiB
	maxArgonTime   = 20
	minPassword    = 12
	maxPassword    = 256
)

// ErrBadHash is returned for a stored password hash herald cannot read.
var ErrBadHash = errors.New("unreadable password hash")

// CheckPasswordPolicy tells whether a new password is acceptable: long
// enough to resist guessing, short enough not to be a denial of service.
func CheckPasswordPolicy(pw string) error {
	n := len([]rune(pw))
	if n < minPassword {
		return dispatcher.Errorf(dispatcher.EINVALID, "password too short: use at least %d characters (a few random words work well)", minPassword)
	}
	if len(pw) > maxPassword {
		return dispatcher.Errorf(dispatcher.EINVALID, "password too long: use at most %d bytes", maxPassword)
	}
	return nil
}

// HashPassword hashes pw with argon2id and a fresh random salt, in the PHC
// string format ($argon2id$v=19$m=…,t=…,p=…$salt$key) that VerifyPassword
// reads.
func HashPassword(pw string) (string, error) {
	if err := CheckPasswordPolicy(pw); err != nil {
		return "", err
	}
	return hashWith(pw, hashParams)
}

func hashWith(pw string, p argonParams) (string, error) {
	salt := make([]byte, 16)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("password salt: %w", err)
	}
	key := argon2.IDKey([]byte(pw), salt, p.time, p.memory, p.threads, p.keyLen)
	enc := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, p.memory, p.time, p.threads,
		enc.EncodeToString(salt), enc.EncodeToString(key)), nil
}

// VerifyPassword reports whether pw matches the stored hash, comparing in
// constant time. An empty hash never matches (a token-only user).
func VerifyPassword(hash, pw string) (bool, error) {
	if hash == "" {
		return false, nil
	}
	p, salt, key, err := parseHash(hash)
	if err != nil {
		return false, err
	}
	got := argon2.IDKey([]byte(pw), salt, p.time, p.memory, p.threads, uint32(len(key)))
	return subtle.ConstantTimeCompare(got, key) == 1, nil
}

// parseHash reads a PHC argon2id string.
func parseHash(h string) (argonParams, []byte, []byte, error) {
	var p argonParams
	parts := strings.Split(h, "$")
	if len(parts) != 6 || parts[0] != "" || parts[1] != "argon2id" || parts[2] != "v="+strconv.Itoa(argon2.Version) {
		return p, nil, nil, ErrBadHash
	}
	for _, kv := range strings.Split(parts[3], ",") {
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			return p, nil, nil, ErrBadHash
		}
		n, err := strconv.ParseUint(v, 10, 32)
		if err != nil {
			return p, nil, nil, ErrBadHash
		}
		switch k {
		case "m":
			p.memory = uint32(n)
		case "t":
			p.time = uint32(n)
		case "p":
			if n > 255 {
				return p, nil, nil, ErrBadHash
			}
			p.threads = uint8(n)
		default:
			return p, nil, nil, ErrBadHash
		}
	}
	if p.memory < 8 || p.memory > maxArgonMemory || p.time < 1 || p.time > maxArgonTime || p.threads < 1 || p.memory < 8*uint32(p.threads) {
		return p, nil, nil, ErrBadHash
	}
	enc := base64.RawStdEncoding
	salt, err := enc.DecodeString(parts[4])
	if err != nil || len(salt) < 8 || len(salt) > 64 {
		return p, nil, nil, ErrBadHash
	}
	key, err := enc.DecodeString(parts[5])
	if err != nil || len(key) < 16 || len(key) > 64 {
		return p, nil, nil, ErrBadHash
	}
	return p, salt, key, nil
}

// dummyHash is verified against when a sign-in names an unknown user, so
// that the answer takes as long as for a known one and does not tell which
// names exist.
var dummyHash = func() string {
	h, err := hashWith("not a password anyone has", hashParams)
	if err != nil {
		panic(err)
	}
	return h
}()

// RandomSecret returns n random bytes, base64url-encoded: session ids,
// CSRF tokens, API token secrets, generated passwords.
func RandomSecret(n int) (string, error) {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("random secret: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// SecretHash is how session ids and API token secrets are stored: hex
// SHA-256. The secrets have 256 bits of entropy, so a fast hash is enough;
// what it buys is that a copy of the database signs no one in.
func SecretHash(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(sum[:])
}

// apiTokenPrefix marks herald API tokens, so secret scanners recognise
// one pasted where it should not be.
const apiTokenPrefix = "hrld_"

// NewAPIToken returns a fresh API token secret and the token row to store
// for user userID. The secret is shown once and never stored.
func NewAPIToken(userID int64, label string) (string, *dispatcher.APIToken, error) {
	s, err := RandomSecret(32)
	if err != nil {
		return "", nil, err
	}
	secret := apiTokenPrefix + s
	return secret, &dispatcher.APIToken{UserID: userID, Label: label, Hash: SecretHash(secret)}, nil
}

// GeneratePassword returns a random password for a one-time account (the
// demo's admin) or a reset: 26 base32 characters, 130 bits.
func GeneratePassword() string { return rand.Text() }
