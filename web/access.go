package web

import (
	"context"

	"github.com/heraldhq/herald/dispatcher"
)

// Access is who may use a route. Every route declares one; the router
// refuses to register a route without it, and the authorization test walks
// every route with every role.
type Access string

// Access levels.
const (
	// Public routes need no sign-in: the sign-in page, probes, static
	// assets, the API description and provider webhooks (which carry
	// their own signatures).
	Public Access = "public"
	// Staff routes are for every signed-in role: campaign progress and
	// the support lookup (which is audited).
	Staff Access = "staff"
	// Operators run campaigns and export lists: operator and admin.
	Operators Access = "operators"
	// Admins manage users and tokens, read the audit log and watch the
	// queue monitor.
	Admins Access = "admins"
)

// Allows reports whether a user with role r may use a route with access a.
// An empty role is a request without a user.
func (a Access) Allows(r dispatcher.Role) bool {
	switch a {
	case Public:
		return true
	case Staff:
		return r == dispatcher.RoleSupport || r == dispatcher.RoleOperator || r == dispatcher.RoleAdmin
	case Operators:
		return r == dispatcher.RoleOperator || r == dispatcher.RoleAdmin
	case Admins:
		return r == dispatcher.RoleAdmin
	}
	return false
}

// principal is who a request comes from.
type principal struct {
	user    *dispatcher.User
	session *dispatcher.Session // nil for API tokens
	token   *dispatcher.APIToken
}

type principalKey struct{}

func withPrincipal(ctx context.Context, p *principal) context.Context {
	return context.WithValue(ctx, principalKey{}, p)
}

// principalOf returns the request's principal, nil when anonymous.
func principalOf(ctx context.Context) *principal {
	p, _ := ctx.Value(principalKey{}).(*principal)
	return p
}

// role is the principal's role, "" when anonymous.
func (p *principal) role() dispatcher.Role {
	if p == nil || p.user == nil {
		return ""
	}
	return p.user.Role
}

// name is the principal's user name for the audit log and logs.
func (p *principal) name() string {
	if p == nil || p.user == nil {
		return "anonymous"
	}
	return p.user.Name
}

// actor is the audit log's name for the principal: the user name, with
// the token's label when it came through an API token.
func (p *principal) actor() string {
	if p == nil || p.user == nil {
		return "anonymous"
	}
	if p.token != nil {
		return p.user.Name + " (token " + p.token.Label + ")"
	}
	return p.user.Name
}
