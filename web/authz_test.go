package web

import (
	"context"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald/dispatcher"
)

// TestAuthorizationMatrix walks every route the server has (from its own
// route list, so a new route cannot escape) with every role and with no
// user, and checks that the request reached the handler exactly when the
// route's access allows the role, and that a refusal is a refusal: 401 or
// a sign-in redirect for nobody, 403 for a signed-in user.
func TestAuthorizationMatrix(t *testing.T) {
	e := newTestEnv(t, withBackend(t), func(c *Config) {
		c.Webhooks = http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) })
	})
	c := e.campaign("authz")
	ctx := context.Background()
	contacts := []dispatcher.Contact{{Name: "Åse Ødegård", Email: "ase@example.no", Phone: "+4791234567", Locale: "nb"}}
	if _, err := e.st.ImportContacts(ctx, c.ID, contacts, func(ct *dispatcher.Contact) []dispatcher.Delivery {
		return dispatcher.Plan(c.Policy, ct, time.Now())
	}); err != nil {
		t.Fatal(err)
	}
	victim := e.addUser("victim", dispatcher.RoleSupport, "correct horse battery staple")
	_, tok, err := NewAPIToken(victim.ID, "victim-token")
	if err != nil {
		t.Fatal(err)
	}
	if err := e.st.CreateAPIToken(ctx, tok); err != nil {
		t.Fatal(err)
	}
	params := map[string]string{"name": c.Name, "user": victim.Name, "id": strconv.FormatInt(tok.ID, 10)}
	prefixes := map[string]string{"/static/": "/static/style.css", "/admin/queues/": "/admin/queues/", "/webhooks/": "/webhooks/twilio"}
	paramRE := regexp.MustCompile(`\{([a-z]+)\}`)

	routes := e.srv.Routes()
	var names []string
	for _, rt := range routes {
		names = append(names, rt.Name)
	}
	// the mounts this test relies on are really in the table
	for _, want := range []string{"queues", "webhooks", "metrics", "api.contacts.lookup", "users.delete", "unreachable.csv",
		"campaigns.new", "campaigns.create", "campaign.settings", "campaign.settings.save", "api.campaigns.settings", "api.campaigns.settings.put",
		"templates.save", "templates.starter", "templates.upload",
		"suppressions", "suppressions.check", "suppressions.add", "suppressions.remove", "api.suppressions.list", "api.suppressions.delete",
		"campaign.check", "campaign.check.run", "campaign.launch", "campaign.launch.force", "api.campaigns.check", "api.campaigns.check.run", "api.campaigns.launch"} {
		if !slices.Contains(names, want) {
			t.Fatalf("route %q missing from Routes(): %v", want, names)
		}
	}
	roles := append([]dispatcher.Role{""}, dispatcher.Roles...)
	for _, rt := range routes {
		path := strings.ReplaceAll(rt.Path, "{$}", "")
		if p, ok := prefixes[rt.Path]; ok {
			path = p
		}
		path = paramRE.ReplaceAllStringFunc(path, func(m string) string {
			v, ok := params[m[1:len(m)-1]]
			if !ok {
				t.Fatalf("route %s: no test value for %s; add one to params", rt.Name, m)
			}
			return v
		})
		method := rt.Method
		if method == "" {
			method = http.MethodGet
		}
		for _, role := range roles {
			who := string(role)
			if who == "" {
				who = "nobody"
			}
			t.Run(rt.Name+"/"+who, func(t *testing.T) {
				e.reached()
				res := e.do(role, method, path, nil)
				hit := slices.Contains(e.reached(), rt.Name)
				allowed := rt.Access.Allows(role)
				if hit != allowed {
					t.Fatalf("%s %s as %s: handler reached %t, want %t (access %s, status %d)", method, path, who, hit, allowed, rt.Access, res.StatusCode)
				}
				switch {
				case allowed && rt.Name == "login":
					// reached; it refuses a form without its own
					// pre-session CSRF cookie, which TestLogin covers
				case allowed:
					if res.StatusCode == http.StatusUnauthorized || res.StatusCode == http.StatusForbidden {
						t.Errorf("%s %s as %s: status %d after the handler ran", method, path, who, res.StatusCode)
					}
				case role == "":
					loc := res.Header.Get("Location")
					if res.StatusCode != http.StatusUnauthorized && !(res.StatusCode == http.StatusSeeOther && strings.HasPrefix(loc, "/login")) {
						t.Errorf("%s %s anonymously: status %d (Location %q), want 401 or a redirect to /login", method, path, res.StatusCode, loc)
					}
				default:
					if res.StatusCode != http.StatusForbidden {
						t.Errorf("%s %s as %s: status %d, want 403", method, path, who, res.StatusCode)
					}
				}
			})
		}
	}
}

// TestRoleExpectations pins what each role can do in words the issue used,
// so a change to the route table that gives support an export fails here
// too, not only in the generated matrix.
func TestRoleExpectations(t *testing.T) {
	e := newTestEnv(t)
	access := map[string]Access{}
	for _, rt := range e.srv.Routes() {
		access[rt.Name] = rt.Access
	}
	tests := []struct {
		route string
		role  dispatcher.Role
		want  bool
	}{
		{"lookup", dispatcher.RoleSupport, true},
		{"api.contacts.lookup", dispatcher.RoleSupport, true},
		{"campaign", dispatcher.RoleSupport, true},
		{"unreachable.csv", dispatcher.RoleSupport, false},
		{"api.campaigns.unreachable", dispatcher.RoleSupport, false},
		{"import.rejects", dispatcher.RoleSupport, false},
		{"campaign.launch", dispatcher.RoleSupport, false},
		{"campaign.cancel", dispatcher.RoleSupport, false},
		{"api.campaigns.pause", dispatcher.RoleSupport, false},
		{"campaign.launch", dispatcher.RoleOperator, true},
		// The campaign check and launching past it are for operators.
		{"campaign.check", dispatcher.RoleSupport, false},
		{"campaign.check.run", dispatcher.RoleSupport, false},
		{"campaign.launch.force", dispatcher.RoleSupport, false},
		{"api.campaigns.check", dispatcher.RoleSupport, false},
		{"api.campaigns.check.run", dispatcher.RoleSupport, false},
		{"api.campaigns.launch", dispatcher.RoleSupport, false},
		{"campaign.check", dispatcher.RoleOperator, true},
		{"campaign.launch.force", dispatcher.RoleOperator, true},
		{"api.campaigns.launch", dispatcher.RoleOperator, true},
		{"unreachable.csv", dispatcher.RoleOperator, true},
		{"users", dispatcher.RoleOperator, false},
		{"audit", dispatcher.RoleOperator, false},
		// Creating and editing campaigns is for operators.
		{"campaigns.new", dispatcher.RoleSupport, false},
		{"campaigns.create", dispatcher.RoleSupport, false},
		{"campaign.settings", dispatcher.RoleSupport, false},
		{"campaign.settings.save", dispatcher.RoleSupport, false},
		{"api.campaigns.settings.put", dispatcher.RoleSupport, false},
		{"templates.save", dispatcher.RoleSupport, false},
		{"templates.upload", dispatcher.RoleSupport, false},
		{"campaigns.create", dispatcher.RoleOperator, true},
		{"campaign.settings.save", dispatcher.RoleOperator, true},
		{"api.campaigns.settings.put", dispatcher.RoleOperator, true},
		// Support may check one address on the suppression list, not list,
		// add or remove.
		{"suppressions.check", dispatcher.RoleSupport, true},
		{"api.suppressions.get", dispatcher.RoleSupport, true},
		{"suppressions", dispatcher.RoleSupport, false},
		{"api.suppressions.list", dispatcher.RoleSupport, false},
		{"suppressions.add", dispatcher.RoleSupport, false},
		{"suppressions.remove", dispatcher.RoleSupport, false},
		{"api.suppressions.delete", dispatcher.RoleSupport, false},
		{"suppressions", dispatcher.RoleOperator, true},
		{"suppressions.remove", dispatcher.RoleOperator, true},
		{"api.suppressions.delete", dispatcher.RoleOperator, true},
		{"users", dispatcher.RoleAdmin, true},
		{"audit", dispatcher.RoleAdmin, true},
		{"api.audit", dispatcher.RoleAdmin, true},
	}
	for _, tt := range tests {
		a, ok := access[tt.route]
		if !ok {
			t.Errorf("no route %q", tt.route)
			continue
		}
		if got := a.Allows(tt.role); got != tt.want {
			t.Errorf("%s as %s: allowed %t, want %t", tt.route, tt.role, got, tt.want)
		}
	}
}
