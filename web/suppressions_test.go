package web

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/heraldhq/herald/dispatcher"
)

func TestSuppressionsPage(t *testing.T) {
	e := newTestEnv(t)
	ctx := context.Background()

	// Support checks one address; it is not on the list.
	page := readAll(t, e.do(dispatcher.RoleSupport, http.MethodGet, "/suppressions/check?channel=email&address=Ola.Nordmann%40Example.no", nil))
	if !strings.Contains(page, "ola.nordmann@example.no</strong> is not on the email suppression list") {
		t.Errorf("check page:\n%s", page)
	}
	if strings.Contains(page, `id="add-form"`) || strings.Contains(page, "See the whole list") {
		t.Error("support sees the operators' controls")
	}
	for _, req := range []struct{ method, path string }{{http.MethodGet, "/suppressions"}, {http.MethodPost, "/suppressions"}, {http.MethodPost, "/suppressions/remove"}} {
		if res := e.do(dispatcher.RoleSupport, req.method, req.path, url.Values{"channel": {"email"}, "address": {"x@example.no"}}); res.StatusCode != http.StatusForbidden {
			t.Errorf("support %s %s: %d, want 403", req.method, req.path, res.StatusCode)
		}
	}

	// The operator adds it, with a reason and a note.
	res := e.do(dispatcher.RoleOperator, http.MethodPost, "/suppressions", url.Values{"channel": {"email"}, "address": {" Ola.Nordmann@Example.no "},
		"reason": {"opted_out"}, "note": {"asked by phone, ticket 4711"}})
	if res.StatusCode != http.StatusSeeOther {
		t.Fatalf("add: %d\n%s", res.StatusCode, readAll(t, res))
	}
	sup, err := e.st.IsSuppressed(ctx, dispatcher.Email, "ola.nordmann@example.no")
	if err != nil || sup == nil || sup.Reason != dispatcher.ReasonOptedOut || sup.Source != "console by operator-user: asked by phone, ticket 4711" {
		t.Fatalf("after add: %+v, %v", sup, err)
	}
	page = readAll(t, e.do(dispatcher.RoleSupport, http.MethodGet, "/suppressions/check?channel=email&address=ola.nordmann%40example.no", nil))
	if !strings.Contains(page, "is suppressed on email (opted_out)") {
		t.Errorf("check after add:\n%s", page)
	}
	// A bad address is refused with the reason, nothing added.
	res = e.do(dispatcher.RoleOperator, http.MethodPost, "/suppressions", url.Values{"channel": {"sms"}, "address": {"12"}, "reason": {"manual"}})
	if page := readAll(t, res); res.StatusCode != http.StatusBadRequest || !strings.Contains(page, "Nothing was added") {
		t.Errorf("bad number: %d", res.StatusCode)
	}

	// The list pages and filters.
	var many []dispatcher.Suppression
	for i := range 60 {
		many = append(many, dispatcher.Suppression{Channel: dispatcher.SMS, Address: fmt.Sprintf("+47900%05d", i), Reason: dispatcher.ReasonInvalid, Source: "test"})
	}
	if _, err := e.st.SuppressMany(ctx, many); err != nil {
		t.Fatal(err)
	}
	page = readAll(t, e.do(dispatcher.RoleOperator, http.MethodGet, "/suppressions", nil))
	if strings.Count(page, `action="/suppressions/remove"`) != suppressionPageSize || !strings.Contains(page, `id="next-page"`) || !strings.Contains(page, "ola.nordmann@example.no") {
		t.Errorf("first page: %d entries", strings.Count(page, `action="/suppressions/remove"`))
	}
	page = readAll(t, e.do(dispatcher.RoleOperator, http.MethodGet, "/suppressions?channel=sms&reason=invalid&after_channel=sms&after_address=%2B4790000049", nil))
	if n := strings.Count(page, `action="/suppressions/remove"`); n != 10 || strings.Contains(page, `id="next-page"`) {
		t.Errorf("second sms page: %d entries", n)
	}
	page = readAll(t, e.do(dispatcher.RoleOperator, http.MethodGet, "/suppressions?reason=opted_out", nil))
	if n := strings.Count(page, `action="/suppressions/remove"`); n != 1 {
		t.Errorf("opted_out filter: %d entries", n)
	}

	// Remove.
	res = e.do(dispatcher.RoleOperator, http.MethodPost, "/suppressions/remove", url.Values{"channel": {"email"}, "address": {"ola.nordmann@example.no"}})
	if res.StatusCode != http.StatusSeeOther {
		t.Fatalf("remove: %d", res.StatusCode)
	}
	if sup, _ := e.st.IsSuppressed(ctx, dispatcher.Email, "ola.nordmann@example.no"); sup != nil {
		t.Error("still suppressed after remove")
	}
	if res := e.do(dispatcher.RoleOperator, http.MethodPost, "/suppressions/remove", url.Values{"channel": {"email"}, "address": {"ola.nordmann@example.no"}}); res.StatusCode != http.StatusNotFound {
		t.Errorf("second remove: %d, want 404", res.StatusCode)
	}

	es, _ := e.st.AuditLog(ctx, dispatcher.AuditQuery{Action: "suppression."})
	var actions []string
	for _, en := range es {
		actions = append(actions, en.Action)
	}
	got := strings.Join(actions, " ")
	for _, want := range []string{"suppression.lookup", "suppression.add", "suppression.list", "suppression.remove"} {
		if !strings.Contains(got, want) {
			t.Errorf("audit log lacks %s: %v", want, actions)
		}
	}
	if strings.Contains(e.logs.String(), "ola.nordmann") {
		t.Error("logs name a suppressed address")
	}
}

func TestSuppressionsAPI(t *testing.T) {
	e := newTestEnv(t)
	var v SuppressionView
	if got := e.api(dispatcher.RoleOperator, http.MethodPost, "/api/v1/suppressions", "application/json",
		strings.NewReader(`{"channel": "sms", "address": "+47 912 34 567", "reason": "stop", "note": "SMS reply STOP"}`), &v); got != http.StatusCreated ||
		v.Address != "+4791234567" || v.Reason != dispatcher.ReasonOptedOut || !strings.Contains(v.Source, "SMS reply STOP") {
		t.Fatalf("add: %d %+v", got, v)
	}
	var page SuppressionPage
	if got := e.api(dispatcher.RoleOperator, http.MethodGet, "/api/v1/suppressions/list?channel=sms", "", nil, &page); got != http.StatusOK || len(page.Entries) != 1 {
		t.Errorf("list: %d %+v", got, page)
	}
	if got := e.api(dispatcher.RoleSupport, http.MethodGet, "/api/v1/suppressions/list", "", nil, nil); got != http.StatusForbidden {
		t.Errorf("support listing: %d, want 403", got)
	}
	if got := e.api(dispatcher.RoleSupport, http.MethodGet, "/api/v1/suppressions?channel=sms&address=%2B4791234567", "", nil, &v); got != http.StatusOK || !v.Suppressed {
		t.Errorf("support check: %d %+v", got, v)
	}
	if got := e.api(dispatcher.RoleOperator, http.MethodDelete, "/api/v1/suppressions?channel=sms&address=%2B4791234567", "", nil, &v); got != http.StatusOK || v.Suppressed {
		t.Errorf("delete: %d %+v", got, v)
	}
	if got := e.api(dispatcher.RoleOperator, http.MethodDelete, "/api/v1/suppressions?channel=sms&address=%2B4791234567", "", nil, nil); got != http.StatusNotFound {
		t.Errorf("delete again: %d, want 404", got)
	}
}
