package web

import (
	"io/fs"
	"net/http"
	"time"
)

// routeTable is every route the server has, with who may use it. It is
// the single place access is decided: handlers never check roles
// themselves, and the authorization test walks this list.
func (s *Server) routeTable() []*route {
	page := func(name, method, path string, access Access, h http.HandlerFunc) *route {
		return &route{Name: name, Method: method, Path: path, Access: access, kind: kindPage, h: h}
	}
	api := func(name, method, path string, access Access, h http.HandlerFunc) *route {
		return &route{Name: name, Method: method, Path: path, Access: access, kind: kindAPI, h: h}
	}
	raw := func(name, method, path string, access Access, h http.Handler) *route {
		return &route{Name: name, Method: method, Path: path, Access: access, kind: kindRaw, h: h}
	}
	static, err := fs.Sub(assets, "static")
	if err != nil {
		panic(err) // the embedded tree is fixed at build time
	}
	ready := s.cfg.Ready
	if ready == nil {
		ready = map[string]Pinger{}
	}
	upload := s.cfg.MaxUpload

	rs := []*route{
		// Probes, assets, the API description: no sign-in.
		raw("healthz", http.MethodGet, "/healthz", Public, Healthz()),
		raw("readyz", http.MethodGet, "/readyz", Public, Readyz(ready, 5*time.Second)),
		raw("static", http.MethodGet, "/static/", Public, http.StripPrefix("/static/", http.FileServerFS(static))),
		raw("openapi", http.MethodGet, "/api/openapi.json", Public, http.HandlerFunc(s.openAPI)),
		page("login.form", http.MethodGet, "/login", Public, s.loginForm),
		page("login", http.MethodPost, "/login", Public, s.login),

		// Everyone signed in: progress, the (audited) support lookup, and
		// whether one address is on the suppression list.
		raw("metrics", http.MethodGet, "/metrics", Staff, s.metrics.handler()),
		page("logout", http.MethodPost, "/logout", Staff, s.logout),
		page("home", http.MethodGet, "/{$}", Staff, s.home),
		page("campaigns", http.MethodGet, "/campaigns", Staff, s.campaignsPage),
		page("campaign", http.MethodGet, "/campaigns/{name}", Staff, s.campaignPage),
		page("lookup", http.MethodGet, "/lookup", Staff, s.lookupPage),
		page("account", http.MethodGet, "/account", Staff, s.accountPage),
		page("account.password", http.MethodPost, "/account/password", Staff, s.accountPassword),
		api("api.me", http.MethodGet, "/api/v1/me", Staff, s.apiMe),
		api("api.campaigns.list", http.MethodGet, "/api/v1/campaigns", Staff, s.apiCampaigns),
		api("api.campaigns.get", http.MethodGet, "/api/v1/campaigns/{name}", Staff, s.apiCampaign),
		api("api.campaigns.status", http.MethodGet, "/api/v1/campaigns/{name}/status", Staff, s.apiStatus),
		api("api.campaigns.report", http.MethodGet, "/api/v1/campaigns/{name}/report", Staff, s.apiReport),
		api("api.contacts.lookup", http.MethodGet, "/api/v1/contacts", Staff, s.apiLookup),
		api("api.suppressions.get", http.MethodGet, "/api/v1/suppressions", Staff, s.apiSuppression),
		page("suppressions.check", http.MethodGet, "/suppressions/check", Staff, s.suppressionCheckPage),

		// Operators: run campaigns, see and export lists of people.
		page("campaigns.new", http.MethodGet, "/campaigns/new", Operators, s.newCampaignForm),
		{Name: "campaigns.create", Method: http.MethodPost, Path: "/campaigns", Access: Operators, kind: kindPage, maxBody: maxTemplateUpload + maxFormBody, h: http.HandlerFunc(s.createCampaignForm)},
		page("campaign.settings", http.MethodGet, "/campaigns/{name}/settings", Operators, s.settingsPage),
		page("campaign.settings.save", http.MethodPost, "/campaigns/{name}/settings", Operators, s.settingsSave),
		page("templates.save", http.MethodPost, "/campaigns/{name}/templates", Operators, s.templateSave),
		page("templates.starter", http.MethodPost, "/campaigns/{name}/templates/starter", Operators, s.templateStarter),
		{Name: "templates.upload", Method: http.MethodPost, Path: "/campaigns/{name}/templates/upload", Access: Operators, kind: kindPage, maxBody: maxTemplateUpload + maxFormBody, h: http.HandlerFunc(s.templateUpload)},
		page("import.form", http.MethodGet, "/campaigns/{name}/import", Operators, s.importForm),
		{Name: "import", Method: http.MethodPost, Path: "/campaigns/{name}/import", Access: Operators, kind: kindPage, maxBody: upload, h: http.HandlerFunc(s.importUpload)},
		page("import.rejects", http.MethodGet, "/campaigns/{name}/imports/{id}/rejects.csv", Operators, s.importRejects),
		page("campaign.check", http.MethodGet, "/campaigns/{name}/check", Operators, s.checkPage),
		page("campaign.check.run", http.MethodPost, "/campaigns/{name}/check", Operators, s.checkStart),
		page("campaign.launch", http.MethodPost, "/campaigns/{name}/launch", Operators, s.launchPage),
		page("campaign.launch.force", http.MethodPost, "/campaigns/{name}/launch-anyway", Operators, s.launchAnyway),
		page("campaign.pause", http.MethodPost, "/campaigns/{name}/pause", Operators, s.controlPage("pause")),
		page("campaign.resume", http.MethodPost, "/campaigns/{name}/resume", Operators, s.controlPage("resume")),
		page("campaign.cancel", http.MethodPost, "/campaigns/{name}/cancel", Operators, s.controlPage("cancel")),
		page("templates", http.MethodGet, "/campaigns/{name}/templates", Operators, s.templatesPage),
		{Name: "templates.html", Method: http.MethodGet, Path: "/campaigns/{name}/templates/preview.html", Access: Operators, kind: kindPage, csp: cspPreview, h: http.HandlerFunc(s.templatePreviewHTML)},
		page("unreachable", http.MethodGet, "/campaigns/{name}/unreachable", Operators, s.unreachablePage),
		page("unreachable.csv", http.MethodGet, "/campaigns/{name}/unreachable.csv", Operators, s.unreachableCSV),
		api("api.campaigns.create", http.MethodPost, "/api/v1/campaigns", Operators, s.apiCreateCampaign),
		api("api.campaigns.settings", http.MethodGet, "/api/v1/campaigns/{name}/settings", Operators, s.apiSettings),
		api("api.campaigns.settings.put", http.MethodPut, "/api/v1/campaigns/{name}/settings", Operators, s.apiPutSettings),
		api("api.templates.list", http.MethodGet, "/api/v1/campaigns/{name}/templates", Operators, s.apiTemplates),
		api("api.templates.put", http.MethodPut, "/api/v1/campaigns/{name}/templates", Operators, s.apiPutTemplate),
		{Name: "api.imports.create", Method: http.MethodPost, Path: "/api/v1/campaigns/{name}/imports", Access: Operators, kind: kindAPI, maxBody: upload, h: http.HandlerFunc(s.apiImport)},
		api("api.campaigns.check", http.MethodGet, "/api/v1/campaigns/{name}/check", Operators, s.apiCheck),
		api("api.campaigns.check.run", http.MethodPost, "/api/v1/campaigns/{name}/check", Operators, s.apiCheckStart),
		api("api.campaigns.launch", http.MethodPost, "/api/v1/campaigns/{name}/launch", Operators, s.apiLaunch),
		api("api.campaigns.pause", http.MethodPost, "/api/v1/campaigns/{name}/pause", Operators, s.controlAPI("pause")),
		api("api.campaigns.resume", http.MethodPost, "/api/v1/campaigns/{name}/resume", Operators, s.controlAPI("resume")),
		api("api.campaigns.cancel", http.MethodPost, "/api/v1/campaigns/{name}/cancel", Operators, s.controlAPI("cancel")),
		api("api.campaigns.unreachable", http.MethodGet, "/api/v1/campaigns/{name}/unreachable", Operators, s.apiUnreachable),
		api("api.suppressions.create", http.MethodPost, "/api/v1/suppressions", Operators, s.apiSuppress),
		api("api.suppressions.delete", http.MethodDelete, "/api/v1/suppressions", Operators, s.apiUnsuppress),
		api("api.suppressions.list", http.MethodGet, "/api/v1/suppressions/list", Operators, s.apiSuppressionList),
		page("suppressions", http.MethodGet, "/suppressions", Operators, s.suppressionsPage),
		page("suppressions.add", http.MethodPost, "/suppressions", Operators, s.suppressionsAdd),
		page("suppressions.remove", http.MethodPost, "/suppressions/remove", Operators, s.suppressionsRemove),

		// Admins: users, tokens, the audit log, the queue monitor.
		page("users", http.MethodGet, "/admin/users", Admins, s.usersPage),
		page("users.create", http.MethodPost, "/admin/users", Admins, s.usersCreate),
		page("users.role", http.MethodPost, "/admin/users/{user}/role", Admins, s.usersRole),
		page("users.password", http.MethodPost, "/admin/users/{user}/password", Admins, s.usersPassword),
		page("users.delete", http.MethodPost, "/admin/users/{user}/delete", Admins, s.usersDelete),
		page("tokens.create", http.MethodPost, "/admin/users/{user}/tokens", Admins, s.tokensCreate),
		page("tokens.delete", http.MethodPost, "/admin/tokens/{id}/delete", Admins, s.tokensDelete),
		page("audit", http.MethodGet, "/admin/audit", Admins, s.auditPage),
		api("api.audit", http.MethodGet, "/api/v1/audit", Admins, s.apiAudit),
	}
	if s.monitor != nil {
		rs = append(rs, &route{Name: "queues", Path: "/admin/queues/", Access: Admins, kind: kindRaw, csp: cspMonitor, h: s.monitor})
	}
	if s.cfg.Webhooks != nil {
		rs = append(rs, raw("webhooks", "", "/webhooks/", Public, s.cfg.Webhooks))
	}
	return rs
}
