package web

import (
	"crypto/subtle"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/heraldhq/herald/dispatcher"
)

// Cookie names. With Secure cookies the session cookie takes the __Host-
// prefix, which browsers accept only from HTTPS, for path /, without a
// Domain: no sibling subdomain can set or overwrite it.
const (
	sessionCookieSecure = "__Host-herald_session"
	sessionCookiePlain  = "herald_session"
	loginCookieSecure   = "__Host-herald_login"
	loginCookiePlain    = "herald_login"
	csrfField           = "csrf_token"
	csrfHeader          = "X-CSRF-Token"
)

func (s *Server) sessionCookie() string {
	if s.cfg.CookieSecure {
		return sessionCookieSecure
	}
	return sessionCookiePlain
}

func (s *Server) loginCookie() string {
	if s.cfg.CookieSecure {
		return loginCookieSecure
	}
	return loginCookiePlain
}

// authenticate finds who sent r: an API token in the Authorization header,
// else a session cookie. It returns nil (and no error) for an anonymous
// request. A bad bearer token is an error (401), never anonymous, so a
// script with a revoked token fails loudly.
func (s *Server) authenticate(w http.ResponseWriter, r *http.Request) (*principal, error) {
	ctx := r.Context()
	now := s.cfg.Now()
	if h := r.Header.Get("Authorization"); h != "" {
		scheme, secret, ok := strings.Cut(h, " ")
		if !ok || !strings.EqualFold(scheme, "Bearer") || !strings.HasPrefix(strings.TrimSpace(secret), apiTokenPrefix) {
			return nil, errUnauthorized
		}
		hash := SecretHash(strings.TrimSpace(secret))
		tok, u, err := s.cfg.Users.APIToken(ctx, hash)
		if errors.Is(err, dispatcher.ErrNotFound) {
			return nil, errUnauthorized
		}
		if err != nil {
			return nil, err
		}
		// The row was found by its hash; compare again in constant time
		// so that no code path ever branches on a partial match.
		if subtle.ConstantTimeCompare([]byte(tok.Hash), []byte(hash)) != 1 {
			return nil, errUnauthorized
		}
		if now.Sub(tok.LastUsed) > touchEvery {
			if err := s.cfg.Users.TouchAPIToken(ctx, tok.ID, now); err != nil {
				s.log.Warn("record API token use", "token", tok.ID, "err", err)
			}
		}
		return &principal{user: u, token: tok}, nil
	}
	c, err := r.Cookie(s.sessionCookie())
	if err != nil || c.Value == "" {
		return nil, nil
	}
	hash := SecretHash(c.Value)
	sess, u, err := s.cfg.Users.Session(ctx, hash, now)
	if errors.Is(err, dispatcher.ErrNotFound) {
		s.clearCookie(w, s.sessionCookie())
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if now.Sub(sess.LastSeen) > s.cfg.SessionIdle {
		if err := s.cfg.Users.DeleteSession(ctx, hash); err != nil {
			return nil, err
		}
		s.clearCookie(w, s.sessionCookie())
		return nil, nil
	}
	if now.Sub(sess.LastSeen) > touchEvery {
		if err := s.cfg.Users.TouchSession(ctx, hash, now); err != nil {
			s.log.Warn("record session activity", "user", u.Name, "err", err)
		}
	}
	return &principal{user: u, session: sess}, nil
}

// errUnauthorized is an Authorization header herald does not accept: the
// request fails with 401 rather than falling back to the cookie.
var errUnauthorized = errors.New("unknown or revoked API token")

// startSession creates a session for u and sets its cookie.
func (s *Server) startSession(w http.ResponseWriter, r *http.Request, u *dispatcher.User) error {
	id, err := RandomSecret(32)
	if err != nil {
		return err
	}
	csrf, err := RandomSecret(32)
	if err != nil {
		return err
	}
	now := s.cfg.Now()
	sess := &dispatcher.Session{IDHash: SecretHash(id), UserID: u.ID, CSRFToken: csrf, CreatedAt: now, LastSeen: now, ExpiresAt: now.Add(s.cfg.SessionTTL)}
	if err := s.cfg.Users.CreateSession(r.Context(), sess); err != nil {
		return fmt.Errorf("start session for %s: %w", u.Name, err)
	}
	http.SetCookie(w, &http.Cookie{
		Name: s.sessionCookie(), Value: id, Path: "/", Expires: sess.ExpiresAt,
		HttpOnly: true, Secure: s.cfg.CookieSecure, SameSite: http.SameSiteLaxMode,
	})
	return nil
}

func (s *Server) clearCookie(w http.ResponseWriter, name string) {
	http.SetCookie(w, &http.Cookie{Name: name, Value: "", Path: "/", MaxAge: -1, HttpOnly: true, Secure: s.cfg.CookieSecure, SameSite: http.SameSiteLaxMode})
}

// checkCSRF checks the synchronizer token of a state-changing request made
// with a session cookie: the form field or the X-CSRF-Token header must
// equal the session's token. Forms larger than the route's limit fail
// here with the MaxBytesError.
func (s *Server) checkCSRF(r *http.Request, sess *dispatcher.Session) error {
	got := r.Header.Get(csrfHeader)
	if got == "" {
		if err := parseForm(r); err != nil {
			return err
		}
		got = r.PostFormValue(csrfField)
	}
	if got == "" || subtle.ConstantTimeCompare([]byte(got), []byte(sess.CSRFToken)) != 1 {
		return errors.New("CSRF token missing or wrong")
	}
	return nil
}

// parseForm parses a urlencoded or multipart body once.
func parseForm(r *http.Request) error {
	if r.PostForm != nil {
		return nil
	}
	if strings.HasPrefix(r.Header.Get("Content-Type"), "multipart/form-data") {
		return r.ParseMultipartForm(multipartMemory)
	}
	return r.ParseForm()
}

// csrfToken is the token forms of this request's session carry.
func csrfToken(r *http.Request) string {
	if p := principalOf(r.Context()); p != nil && p.session != nil {
		return p.session.CSRFToken
	}
	return ""
}

// sessionHash is the stored hash of this request's session, "" for none.
func sessionHash(r *http.Request) string {
	if p := principalOf(r.Context()); p != nil && p.session != nil {
		return p.session.IDHash
	}
	return ""
}

// loginAttempt is the outcome of checking a name and password.
type loginAttempt int

const (
	loginOK loginAttempt = iota
	loginBad
	loginLimited
)

// checkLogin verifies a name and password under the rate limits. Unknown
// names cost the same hashing as known ones.
func (s *Server) checkLogin(r *http.Request, name, password string) (*dispatcher.User, loginAttempt, time.Duration, error) {
	ip := clientIP(r)
	if wait := s.limiter.blocked(r.Context(), name, ip); wait > 0 {
		return nil, loginLimited, wait, nil
	}
	u, err := s.cfg.Users.UserByName(r.Context(), name)
	if err != nil && !errors.Is(err, dispatcher.ErrNotFound) {
		return nil, loginBad, 0, err
	}
	hash := dummyHash
	if u != nil && u.PasswordHash != "" {
		hash = u.PasswordHash
	}
	ok, err := VerifyPassword(hash, password)
	if err != nil {
		s.log.Error("stored password hash unreadable", "user", name, "err", err)
		ok = false
	}
	if !ok || u == nil || u.PasswordHash == "" {
		s.limiter.fail(r.Context(), name, ip)
		return nil, loginBad, 0, nil
	}
	s.limiter.succeed(r.Context(), name)
	return u, loginOK, 0, nil
}
