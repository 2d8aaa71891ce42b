package dispatcher

import (
	"context"
	"strings"
	"time"
)

// Role is what a console or API user may do. Roles are ordered by trust,
// but not nested by rank alone: support may look people up, which is the
// one thing the others can do too, and nothing else.
type Role string

// Roles.
const (
	// RoleSupport answers affected people: it looks a person up and sees
	// their timeline, and sees campaign progress. It cannot export lists
	// (the contact list of a breach is itself sensitive) nor change a
	// campaign.
	RoleSupport Role = "support"
	// RoleOperator runs campaigns: creates them, imports lists, previews
	// templates, launches, pauses, resumes, cancels, exports reports.
	RoleOperator Role = "operator"
	// RoleAdmin does everything an operator does, manages users and API
	// tokens, reads the audit log and sees the queue monitor.
	RoleAdmin Role = "admin"
)

// Roles lists every role, least trusted first.
var Roles = []Role{RoleSupport, RoleOperator, RoleAdmin}

// ParseRole parses a role name as given on the command line or in a form.
func ParseRole(s string) (Role, error) {
	switch r := Role(strings.ToLower(strings.TrimSpace(s))); r {
	case RoleSupport, RoleOperator, RoleAdmin:
		return r, nil
	}
	return "", Errorf(EINVALID, "unknown role %q: use admin, operator or support", s)
}

// User is a person (or a robot, through API tokens) allowed into the
// console and the API. The password is kept only as a hash in a
// self-describing format (argon2id parameters, salt and key), so the
// parameters can be raised later without invalidating old hashes.
type User struct {
	ID           int64
	Name         string // unique sign-in name; shown in the audit log
	Role         Role
	PasswordHash string // empty: the user cannot sign in with a password (token-only robots)
	CreatedAt    time.Time
	UpdatedAt    time.Time
}

// ValidateUserName checks a sign-in name: it appears in the audit log and
// on the command line, so it is kept to letters, digits and . _ - @.
func ValidateUserName(name string) error {
	if name == "" || len(name) > 64 {
		return Errorf(EINVALID, "user name must be 1 to 64 characters")
	}
	for _, r := range name {
		ok := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("._-@", r)
		if !ok {
			return Errorf(EINVALID, "user name %q: use letters, digits and . _ - @ only", name)
		}
	}
	return nil
}

// Session is one signed-in browser. Only a hash of the session id is
// stored, so a copy of the database does not let anyone sign in; deleting
// the row (sign-out, password change, user removal) revokes it at once.
type Session struct {
	IDHash    string // hex SHA-256 of the id sent in the cookie
	UserID    int64
	CSRFToken string // the synchronizer token every form of this session carries
	CreatedAt time.Time
	LastSeen  time.Time
	ExpiresAt time.Time // absolute end, however active the session is
}

// APIToken lets automation call the API with "Authorization: Bearer …".
// Like sessions, only a hash of the secret is stored; the secret is shown
// once, when the token is created.
type APIToken struct {
	ID        int64
	UserID    int64
	Label     string // what the token is for, e.g. "ci-import"
	Hash      string // hex SHA-256 of the secret
	CreatedAt time.Time
	LastUsed  time.Time // zero until first use
}

// AuditQuery selects audit log entries, newest first.
type AuditQuery struct {
	BeforeID int64  // entries with a smaller id only; 0 means from the newest
	Actor    string // exact actor, or all
	Action   string // exact action or a prefix ending in "." ("contact."), or all
	Limit    int    // default 100, at most 1000
}

// AuditRecord is a stored audit entry with its id, for paging.
type AuditRecord struct {
	ID int64
	AuditEntry
}

// UserStore keeps the console's users, their sessions and API tokens, and
// reads back the audit log that Store.Audit appends to. It is separate
// from Store because the send path never needs it. Methods return
// ErrNotFound (possibly wrapped) for missing rows.
type UserStore interface {
	// CreateUser inserts u and sets its ID and times; a taken name is
	// ECONFLICT.
	CreateUser(ctx context.Context, u *User) error
	User(ctx context.Context, id int64) (*User, error)
	UserByName(ctx context.Context, name string) (*User, error)
	// Users lists every user by name.
	Users(ctx context.Context) ([]User, error)
	// SetPassword replaces a user's password hash and ends every session
	// of that user, in one transaction: a changed password must lock out
	// whoever knew the old one.
	SetPassword(ctx context.Context, userID int64, hash string) error
	// SetRole changes a user's role; their sessions stay, and the new role
	// applies to their next request.
	SetRole(ctx context.Context, userID int64, role Role) error
	// DeleteUser removes a user with their sessions and tokens.
	DeleteUser(ctx context.Context, userID int64) error

	// CreateSession stores a new session.
	CreateSession(ctx context.Context, s *Session) error
	// Session returns the unexpired session with the given id hash (as
	// of now) and its user; ErrNotFound when there is none.
	Session(ctx context.Context, idHash string, now time.Time) (*Session, *User, error)
	// TouchSession records activity on a session.
	TouchSession(ctx context.Context, idHash string, at time.Time) error
	// DeleteSession ends one session (sign-out); ending a missing session
	// is not an error.
	DeleteSession(ctx context.Context, idHash string) error
	// DeleteExpiredSessions removes sessions that expired before now and
	// returns how many.
	DeleteExpiredSessions(ctx context.Context, now time.Time) (int64, error)

	// CreateAPIToken stores t and sets its ID and CreatedAt.
	CreateAPIToken(ctx context.Context, t *APIToken) error
	// APIToken returns the token with the given secret hash and its user.
	APIToken(ctx context.Context, hash string) (*APIToken, *User, error)
	// APITokens lists a user's tokens (all users' when userID is 0).
	APITokens(ctx context.Context, userID int64) ([]APIToken, error)
	// TouchAPIToken records a token's use.
	TouchAPIToken(ctx context.Context, id int64, at time.Time) error
	// DeleteAPIToken revokes a token.
	DeleteAPIToken(ctx context.Context, id int64) error

	// AuditLog reads the audit log, newest first.
	AuditLog(ctx context.Context, q AuditQuery) ([]AuditRecord, error)
}
