package dispatcher

import (
	"strings"
	"testing"
	"testing/fstest"
	"time"
)

func TestParsePolicy(t *testing.T) {
	tests := []struct {
		in      string
		want    string
		wantErr string
	}{
		{"email,sms", "email,sms", ""},
		{" SMS , email ", "sms,email", ""},
		{"email", "email", ""},
		{"", "", "empty channel policy"},
		{"email,fax", "", `unknown channel "fax"`},
		{"email,email", "", "appears twice"},
	}
	for _, tt := range tests {
		p, err := ParsePolicy(tt.in)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) || ErrorCode(err) != EINVALID {
				t.Errorf("ParsePolicy(%q) = %v, %v; want EINVALID containing %q", tt.in, p, err, tt.wantErr)
			}
			continue
		}
		if err != nil || p.String() != tt.want {
			t.Errorf("ParsePolicy(%q) = %v, %v; want %s", tt.in, p, err, tt.want)
		}
	}
}

func TestCampaignTransitions(t *testing.T) {
	tests := []struct {
		from, to CampaignStatus
		ok       bool
	}{
		{CampaignDraft, CampaignRunning, true},
		{CampaignRunning, CampaignPaused, true},
		{CampaignPaused, CampaignRunning, true},
		{CampaignRunning, CampaignCompleted, true},
		{CampaignPaused, CampaignCancelled, true},
		{CampaignCancelled, CampaignRunning, false},
		{CampaignCompleted, CampaignPaused, false},
		{CampaignDraft, CampaignPaused, false},
	}
	for _, tt := range tests {
		if got := tt.from.CanMove(tt.to); got != tt.ok {
			t.Errorf("%s → %s: got %v, want %v", tt.from, tt.to, got, tt.ok)
		}
	}
}

func TestPlan(t *testing.T) {
	at := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	p := Policy{Email, SMS}
	tests := []struct {
		name   string
		ct     Contact
		from   int
		done   map[ChannelKind]bool
		states []State
	}{
		{"both addresses: email first", Contact{Email: "a@example.no", Phone: "+4791234567"}, 0, nil, []State{StatePending}},
		{"no email: skipped then sms", Contact{Phone: "+4791234567"}, 0, nil, []State{StateSkipped, StatePending}},
		{"nothing: all skipped", Contact{}, 0, nil, []State{StateSkipped, StateSkipped}},
		{"fallback after email", Contact{Email: "a@example.no", Phone: "+4791234567"}, 1, map[ChannelKind]bool{Email: true}, []State{StatePending}},
		{"fallback with no phone", Contact{Email: "a@example.no"}, 1, map[ChannelKind]bool{Email: true}, []State{StateSkipped}},
		{"sms already done", Contact{Email: "a@example.no", Phone: "+4791234567"}, 1, map[ChannelKind]bool{Email: true, SMS: true}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ds := PlanFrom(p, &tt.ct, tt.from, tt.done, at)
			if len(ds) != len(tt.states) {
				t.Fatalf("got %d deliveries %+v, want states %v", len(ds), ds, tt.states)
			}
			for i, d := range ds {
				if d.State != tt.states[i] {
					t.Errorf("delivery %d state %s, want %s", i, d.State, tt.states[i])
				}
				if d.Seq != p.Index(d.Channel) {
					t.Errorf("delivery %d seq %d, want %d", i, d.Seq, p.Index(d.Channel))
				}
				if d.State == StateSkipped && !strings.Contains(d.Diagnostic, "no valid") {
					t.Errorf("skipped delivery without a reason: %+v", d)
				}
				if d.State == StatePending && d.Address != tt.ct.Address(d.Channel) {
					t.Errorf("pending delivery address %q", d.Address)
				}
			}
		})
	}
}

func TestLocaleChain(t *testing.T) {
	tests := []struct {
		locale, def string
		want        string
	}{
		{"nb-NO", "en", "nb-no nb no en"},
		{"nn", "en", "nn no nb en"},
		{"no", "en", "no nb en"},
		{"nl_NL", "nb", "nl-nl nl nb"},
		{"", "nb", "nb"},
		{"EN", "en", "en"},
	}
	for _, tt := range tests {
		if got := strings.Join(LocaleChain(tt.locale, tt.def), " "); got != tt.want {
			t.Errorf("LocaleChain(%q, %q) = %q, want %q", tt.locale, tt.def, got, tt.want)
		}
	}
}

func testNotices(t *testing.T) (*Campaign, *Notices) {
	t.Helper()
	c := &Campaign{ID: 7, Name: "memira", IncidentRef: "INC-42", DefaultLocale: "en", Policy: Policy{Email, SMS},
		Sender: Sender{FromName: "Memira HR", FromEmail: "hr@example.no"}}
	n, err := CompileTemplates("en", []Template{
		{Channel: Email, Locale: "nb", Subject: "Datainnbrudd – {{.Campaign.IncidentRef}}\r\nBcc: x", Text: "Hei {{.FirstName}} ({{index .Attrs \"rolle\"}})", HTML: "<p>Hei {{.Name}}</p>"},
		{Channel: Email, Locale: "en", Subject: "Breach {{.Campaign.IncidentRef}}", Text: "Dear {{.Name}}"},
		{Channel: SMS, Locale: "en", Text: "  Hi {{.FirstName}}\n"},
		{Channel: SMS, Locale: "nl", Text: "Hoi {{.Attrs.afdeling}}"},
	})
	if err != nil {
		t.Fatal(err)
	}
	return c, n
}

func TestRender(t *testing.T) {
	c, n := testNotices(t)
	ct := &Contact{ID: 1, Name: "Bjørn <b>Ødegård</b>", Email: "b@example.no", Phone: "+4791234567", Locale: "nb-NO", Attrs: map[string]string{"rolle": "tidligere ansatt"}}

	m, err := n.Render(c, ct, Email)
	if err != nil {
		t.Fatal(err)
	}
	if m.Subject != "Datainnbrudd – INC-42 Bcc: x" {
		t.Errorf("subject %q: line breaks from a template must not reach the header", m.Subject)
	}
	if m.Text != "Hei Bjørn (tidligere ansatt)" || m.Locale != "nb" || m.To != "b@example.no" {
		t.Errorf("text %q locale %q to %q", m.Text, m.Locale, m.To)
	}
	if !strings.Contains(m.HTML, "&lt;b&gt;Ødegård&lt;/b&gt;") {
		t.Errorf("HTML not escaped: %q", m.HTML)
	}

	// No nb SMS template: falls back to the campaign default, en.
	m, err = n.Render(c, ct, SMS)
	if err != nil {
		t.Fatal(err)
	}
	if m.Text != "Hi Bjørn" || m.Locale != "en" || m.To != "+4791234567" || m.Subject != "" {
		t.Errorf("sms %+v", m)
	}

	// The file channel renders the e-mail notice.
	m, err = n.Render(c, ct, File)
	if err != nil || m.Subject == "" || m.To != "b@example.no" {
		t.Errorf("file: %+v, %v", m, err)
	}
}

func TestRenderMissingVariable(t *testing.T) {
	c, n := testNotices(t)
	ct := &Contact{Name: "Marijke Dijkstra", Phone: "+31612345678", Locale: "nl"}
	m, err := n.Render(c, ct, SMS)
	if err != nil || m.Text != "Hoi" {
		t.Fatalf("a missing variable renders empty, never <no value>: %q, %v", m.Text, err)
	}
	locale, empty := n.emptyVars(SMS, ct)
	if locale != "nl" || len(empty) != 1 || empty[0] != "Attrs.afdeling" {
		t.Errorf("emptyVars = %q %v", locale, empty)
	}
}

func TestContactVars(t *testing.T) {
	n, err := CompileTemplates("en", []Template{{Channel: Email, Locale: "en",
		Subject: "{{.Campaign.IncidentRef}} for {{.ExternalID}}",
		Text:    "{{.FirstName}} {{index .Attrs \"dept\"}} {{.Attrs.site}}{{if .Phone}}{{.Phone}}{{end}}{{with index .Attrs \"note\"}}{{.}}{{end}}",
		HTML:    "<p>{{.Name}}</p>"}})
	if err != nil {
		t.Fatal(err)
	}
	got := strings.Join(n.byKey[TemplateKey{Email, "en"}].vars, " ")
	if got != "ExternalID FirstName Attrs.dept Attrs.site Name" {
		t.Errorf("vars = %q (conditional uses and campaign fields must not be listed)", got)
	}
}

func TestCompileTemplatesError(t *testing.T) {
	_, err := CompileTemplates("en", []Template{{Channel: Email, Locale: "en", Subject: "x", Text: "{{.Name"}})
	if ErrorCode(err) != EINVALID || !strings.Contains(err.Error(), "email/en text") {
		t.Fatalf("got %v", err)
	}
}

func TestLoadTemplates(t *testing.T) {
	fsys := fstest.MapFS{
		"nb/email.subject": {Data: []byte("Emne\n")},
		"nb/email.txt":     {Data: []byte("Hei")},
		"nb/email.html":    {Data: []byte("<p>Hei</p>")},
		"nb/sms.txt":       {Data: []byte("Hei sms")},
		"en/email.subject": {Data: []byte("Subject")},
		"en/email.txt":     {Data: []byte("Hello")},
	}
	ts, err := LoadTemplates(fsys)
	if err != nil {
		t.Fatal(err)
	}
	if len(ts) != 3 {
		t.Fatalf("got %d templates: %+v", len(ts), ts)
	}
	if ts[1].Locale != "nb" || ts[1].Channel != Email || ts[1].Subject != "Emne" || ts[1].HTML != "<p>Hei</p>" {
		t.Errorf("nb email: %+v", ts[1])
	}

	bad := []struct {
		fsys fstest.MapFS
		want string
	}{
		{fstest.MapFS{"nb/emial.txt": {Data: []byte("x")}}, "unknown name"},
		{fstest.MapFS{"email.txt": {Data: []byte("x")}}, "folder named for its locale"},
		{fstest.MapFS{"nb/email.html": {Data: []byte("<p>x</p>")}, "nb/email.subject": {Data: []byte("s")}}, "text part is required"},
		{fstest.MapFS{"nb/sms.txt": {Data: []byte(" \n")}}, "is empty"},
	}
	for _, b := range bad {
		if _, err := LoadTemplates(b.fsys); err == nil || !strings.Contains(err.Error(), b.want) {
			t.Errorf("want error containing %q, got %v", b.want, err)
		}
	}
}

// FuzzRenderTemplate feeds arbitrary operator-written template text
// through compile and render: either a clear error or a message, never a
// panic, and never a line break in the subject.
func FuzzRenderTemplate(f *testing.F) {
	f.Add("Hei {{.FirstName}}", "<p>{{.Name}}</p>", "Emne {{.Campaign.IncidentRef}}")
	f.Add("{{index .Attrs \"rolle\"}}", "{{range .Attrs}}{{.}}{{end}}", "{{.Nope}}")
	f.Add("{{template \"x\"}}", "<script>{{.Name}}</script>", "a\r\nb")
	f.Fuzz(func(t *testing.T, text, html, subject string) {
		n, err := CompileTemplates("en", []Template{{Channel: Email, Locale: "en", Subject: subject, Text: text, HTML: html}})
		if err != nil {
			return
		}
		c := &Campaign{Name: "f", IncidentRef: "R"}
		m, err := n.Render(c, &Contact{Name: "Åse Kværnø", Email: "a@example.no", Attrs: map[string]string{"rolle": "ansatt"}}, Email)
		if err != nil {
			return
		}
		if strings.ContainsAny(m.Subject, "\r\n") {
			t.Fatalf("subject with a line break: %q", m.Subject)
		}
	})
}
