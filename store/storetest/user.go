package storetest

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/heraldhq/herald/dispatcher"
)

// userStore returns s as a UserStore, skipping when the store under test
// keeps no users.
func userStore(t *testing.T, s dispatcher.Store) dispatcher.UserStore {
	t.Helper()
	us, ok := s.(dispatcher.UserStore)
	if !ok {
		t.Skipf("%T does not implement dispatcher.UserStore", s)
	}
	return us
}

func newUser(t *testing.T, us dispatcher.UserStore, name string, role dispatcher.Role) *dispatcher.User {
	t.Helper()
	u := &dispatcher.User{Name: name, Role: role, PasswordHash: "hash-of-" + name}
	if err := us.CreateUser(ctxOf(t), u); err != nil {
		t.Fatalf("create user %s: %v", name, err)
	}
	if u.ID == 0 || u.CreatedAt.IsZero() {
		t.Fatalf("CreateUser left ID %d, CreatedAt %v", u.ID, u.CreatedAt)
	}
	return u
}

// testUsers covers users, their sessions and tokens, and reading the audit
// log back: the console's access control stands on these.
func testUsers(t *testing.T, s dispatcher.Store) {
	us := userStore(t, s)
	ctx := ctxOf(t)
	t.Run("CRUD", func(t *testing.T) {
		ada := newUser(t, us, "ada", dispatcher.RoleAdmin)
		newUser(t, us, "bob.support", dispatcher.RoleSupport)
		dup := &dispatcher.User{Name: "ada", Role: dispatcher.RoleOperator}
		if err := us.CreateUser(ctx, dup); dispatcher.ErrorCode(err) != dispatcher.ECONFLICT {
			t.Errorf("second ada: %v, want ECONFLICT", err)
		}
		for _, bad := range []dispatcher.User{{Name: "has space", Role: dispatcher.RoleAdmin}, {Name: "eve", Role: "root"}} {
			if err := us.CreateUser(ctx, &bad); dispatcher.ErrorCode(err) != dispatcher.EINVALID {
				t.Errorf("CreateUser(%+v): %v, want EINVALID", bad, err)
			}
		}
		got, err := us.UserByName(ctx, "ada")
		if err != nil || got.ID != ada.ID || got.Role != dispatcher.RoleAdmin || got.PasswordHash != "hash-of-ada" {
			t.Fatalf("UserByName(ada) = %+v, %v", got, err)
		}
		if _, err := us.UserByName(ctx, "nobody"); !errors.Is(err, dispatcher.ErrNotFound) {
			t.Errorf("UserByName(nobody): %v, want ErrNotFound", err)
		}
		if _, err := us.User(ctx, 999999); !errors.Is(err, dispatcher.ErrNotFound) {
			t.Errorf("User(999999): %v, want ErrNotFound", err)
		}
		all, err := us.Users(ctx)
		if err != nil || len(all) != 2 || all[0].Name != "ada" || all[1].Name != "bob.support" {
			t.Fatalf("Users = %+v, %v; want ada, bob.support", all, err)
		}
		if err := us.SetRole(ctx, ada.ID, dispatcher.RoleOperator); err != nil {
			t.Fatal(err)
		}
		if got, _ := us.User(ctx, ada.ID); got.Role != dispatcher.RoleOperator {
			t.Errorf("role after SetRole = %s", got.Role)
		}
		if err := us.SetRole(ctx, 999999, dispatcher.RoleAdmin); !errors.Is(err, dispatcher.ErrNotFound) {
			t.Errorf("SetRole(missing): %v, want ErrNotFound", err)
		}
	})

	t.Run("Sessions", func(t *testing.T) {
		u := newUser(t, us, "carla", dispatcher.RoleOperator)
		other := newUser(t, us, "dag", dispatcher.RoleSupport)
		mk := func(hash string, owner int64, expires time.Duration) {
			t.Helper()
			sess := &dispatcher.Session{IDHash: hash, UserID: owner, CSRFToken: "csrf-" + hash, CreatedAt: t0, ExpiresAt: t0.Add(expires)}
			if err := us.CreateSession(ctx, sess); err != nil {
				t.Fatal(err)
			}
		}
		mk("s1", u.ID, time.Hour)
		mk("s2", u.ID, 2*time.Hour)
		mk("short", u.ID, time.Minute)
		mk("d1", other.ID, time.Hour)
		sess, owner, err := us.Session(ctx, "s1", t0.Add(time.Minute))
		if err != nil {
			t.Fatal(err)
		}
		if owner.Name != "carla" || sess.CSRFToken != "csrf-s1" || !sess.ExpiresAt.Equal(at(time.Hour)) || !sess.CreatedAt.Equal(at(0)) {
			t.Errorf("Session(s1) = %+v, %+v", sess, owner)
		}
		if _, _, err := us.Session(ctx, "short", t0.Add(2*time.Minute)); !errors.Is(err, dispatcher.ErrNotFound) {
			t.Errorf("expired session: %v, want ErrNotFound", err)
		}
		if _, _, err := us.Session(ctx, "nope", t0); !errors.Is(err, dispatcher.ErrNotFound) {
			t.Errorf("unknown session: %v, want ErrNotFound", err)
		}
		if err := us.TouchSession(ctx, "s1", t0.Add(30*time.Minute)); err != nil {
			t.Fatal(err)
		}
		if sess, _, _ := us.Session(ctx, "s1", t0); sess == nil || !sess.LastSeen.Equal(at(30*time.Minute)) {
			t.Errorf("LastSeen after touch = %+v", sess)
		}
		if n, err := us.DeleteExpiredSessions(ctx, t0.Add(5*time.Minute)); err != nil || n != 1 {
			t.Errorf("DeleteExpiredSessions = %d, %v; want 1", n, err)
		}
		if err := us.DeleteSession(ctx, "s2"); err != nil {
			t.Fatal(err)
		}
		if err := us.DeleteSession(ctx, "s2"); err != nil {
			t.Errorf("deleting a deleted session: %v", err)
		}
		if _, _, err := us.Session(ctx, "s2", t0); !errors.Is(err, dispatcher.ErrNotFound) {
			t.Errorf("signed-out session still valid: %v", err)
		}
		// A new password ends every session of that user, and only theirs.
		if err := us.SetPassword(ctx, u.ID, "new-hash"); err != nil {
			t.Fatal(err)
		}
		if _, _, err := us.Session(ctx, "s1", t0); !errors.Is(err, dispatcher.ErrNotFound) {
			t.Errorf("session survived a password change: %v", err)
		}
		if _, _, err := us.Session(ctx, "d1", t0); err != nil {
			t.Errorf("another user's session ended with the password change: %v", err)
		}
		if got, _ := us.User(ctx, u.ID); got.PasswordHash != "new-hash" {
			t.Errorf("hash after SetPassword = %q", got.PasswordHash)
		}
		// Removing a user ends their sessions.
		if err := us.DeleteUser(ctx, other.ID); err != nil {
			t.Fatal(err)
		}
		if _, _, err := us.Session(ctx, "d1", t0); !errors.Is(err, dispatcher.ErrNotFound) {
			t.Errorf("session survived removal of its user: %v", err)
		}
		if err := us.DeleteUser(ctx, other.ID); !errors.Is(err, dispatcher.ErrNotFound) {
			t.Errorf("deleting a deleted user: %v, want ErrNotFound", err)
		}
	})

	t.Run("Tokens", func(t *testing.T) {
		u := newUser(t, us, "robot", dispatcher.RoleOperator)
		v := newUser(t, us, "vera", dispatcher.RoleAdmin)
		tok := &dispatcher.APIToken{UserID: u.ID, Label: "ci-import", Hash: "h1"}
		if err := us.CreateAPIToken(ctx, tok); err != nil {
			t.Fatal(err)
		}
		if err := us.CreateAPIToken(ctx, &dispatcher.APIToken{UserID: v.ID, Label: "x", Hash: "h2"}); err != nil {
			t.Fatal(err)
		}
		if err := us.CreateAPIToken(ctx, &dispatcher.APIToken{UserID: 999999, Hash: "h3"}); !errors.Is(err, dispatcher.ErrNotFound) {
			t.Errorf("token for a missing user: %v, want ErrNotFound", err)
		}
		got, owner, err := us.APIToken(ctx, "h1")
		if err != nil || got.ID != tok.ID || got.Label != "ci-import" || owner.Name != "robot" || !got.LastUsed.IsZero() {
			t.Fatalf("APIToken(h1) = %+v, %+v, %v", got, owner, err)
		}
		if err := us.TouchAPIToken(ctx, tok.ID, t0); err != nil {
			t.Fatal(err)
		}
		if got, _, _ := us.APIToken(ctx, "h1"); !got.LastUsed.Equal(at(0)) {
			t.Errorf("LastUsed = %v, want %v", got.LastUsed, at(0))
		}
		if mine, err := us.APITokens(ctx, u.ID); err != nil || len(mine) != 1 || mine[0].Hash != "h1" {
			t.Errorf("APITokens(robot) = %+v, %v", mine, err)
		}
		if all, err := us.APITokens(ctx, 0); err != nil || len(all) != 2 {
			t.Errorf("APITokens(all) = %+v, %v; want 2", all, err)
		}
		if err := us.DeleteAPIToken(ctx, tok.ID); err != nil {
			t.Fatal(err)
		}
		if _, _, err := us.APIToken(ctx, "h1"); !errors.Is(err, dispatcher.ErrNotFound) {
			t.Errorf("revoked token still found: %v", err)
		}
		if err := us.DeleteUser(ctx, v.ID); err != nil {
			t.Fatal(err)
		}
		if _, _, err := us.APIToken(ctx, "h2"); !errors.Is(err, dispatcher.ErrNotFound) {
			t.Errorf("token survived removal of its user: %v", err)
		}
	})

	t.Run("AuditLog", func(t *testing.T) {
		for i := range 5 {
			e := dispatcher.AuditEntry{At: t0.Add(time.Duration(i) * time.Minute), Actor: "ola", Action: "contact.lookup",
				Subject: fmt.Sprintf("person%d@example.org", i), Detail: "1 contact shown"}
			if i%2 == 1 {
				e.Actor, e.Action = "kari", "campaign.launch"
			}
			if err := s.Audit(ctx, e); err != nil {
				t.Fatal(err)
			}
		}
		all, err := us.AuditLog(ctx, dispatcher.AuditQuery{})
		if err != nil || len(all) != 5 {
			t.Fatalf("AuditLog = %d entries, %v; want 5", len(all), err)
		}
		if all[0].Subject != "person4@example.org" || !all[0].At.Equal(at(4*time.Minute)) || all[0].ID <= all[1].ID {
			t.Errorf("newest entry = %+v, want person4 first", all[0])
		}
		page, err := us.AuditLog(ctx, dispatcher.AuditQuery{BeforeID: all[1].ID, Limit: 2})
		if err != nil || len(page) != 2 || page[0].ID != all[2].ID {
			t.Errorf("page before %d = %+v, %v", all[1].ID, page, err)
		}
		if got, _ := us.AuditLog(ctx, dispatcher.AuditQuery{Actor: "kari"}); len(got) != 2 {
			t.Errorf("actor kari: %d entries, want 2", len(got))
		}
		if got, _ := us.AuditLog(ctx, dispatcher.AuditQuery{Action: "contact."}); len(got) != 3 {
			t.Errorf("action prefix contact.: %d entries, want 3", len(got))
		}
		if got, _ := us.AuditLog(ctx, dispatcher.AuditQuery{Action: "contact"}); len(got) != 0 {
			t.Errorf("action contact (exact): %d entries, want 0", len(got))
		}
	})
}
