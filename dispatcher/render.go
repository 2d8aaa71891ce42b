package dispatcher

import (
	"bytes"
	"fmt"
	htmltemplate "html/template"
	"strings"
	texttemplate "text/template"
	"text/template/parse"
)

// Notices holds a campaign's templates compiled once, ready to render a
// message for any contact. It is safe for concurrent use.
type Notices struct {
	defaultLocale string
	byKey         map[TemplateKey]*compiled
}

type compiled struct {
	subject *texttemplate.Template
	text    *texttemplate.Template
	html    *htmltemplate.Template // nil when the template has no HTML part
	vars    []string               // contact variables used unconditionally (see contactVars)
}

// NoticeData is what a template sees: {{.Name}}, {{.Campaign.IncidentRef}},
// {{index .Attrs "rolle"}} and so on. Attrs holds the import's extra
// columns, keyed by their header as written.
type NoticeData struct {
	Name       string
	FirstName  string
	Email      string
	Phone      string
	ExternalID string
	Locale     string
	Country    string
	Attrs      map[string]string
	Campaign   CampaignData
	// Postal is the mailing address, for a letter's address block:
	// {{.Postal.Line1}}, {{.Postal.PostalCode}} {{.Postal.City}}.
	Postal PostalAddress
}

// CampaignData is the part of the campaign a template may show.
type CampaignData struct {
	Name        string
	IncidentRef string
	FromName    string
	ReplyTo     string
}

// CompileTemplates parses every template of a campaign. A variable a
// contact lacks renders empty (missingkey=zero), never as "<no value>", so
// {{with .Attrs.note}} works for optional columns; a variable used
// unconditionally and empty for some contact is what the campaign check
// reports before launch (see contactVars).
func CompileTemplates(defaultLocale string, ts []Template) (*Notices, error) {
	n := &Notices{defaultLocale: normLocale(defaultLocale), byKey: make(map[TemplateKey]*compiled, len(ts))}
	for _, t := range ts {
		key := TemplateKey{Channel: t.Channel, Locale: normLocale(t.Locale)}
		c := &compiled{}
		var err error
		name := key.String()
		if c.subject, err = texttemplate.New(name + "/subject").Option("missingkey=zero").Parse(t.Subject); err != nil {
			return nil, Errorf(EINVALID, "template %s subject: %v", name, err)
		}
		if c.text, err = texttemplate.New(name + "/text").Option("missingkey=zero").Parse(t.Text); err != nil {
			return nil, Errorf(EINVALID, "template %s text: %v", name, err)
		}
		if strings.TrimSpace(t.HTML) != "" {
			if c.html, err = htmltemplate.New(name + "/html").Option("missingkey=zero").Parse(t.HTML); err != nil {
				return nil, Errorf(EINVALID, "template %s html: %v", name, err)
			}
		}
		c.vars = contactVars(c.subject.Tree, c.text.Tree)
		if c.html != nil {
			c.vars = contactVars(c.subject.Tree, c.text.Tree, c.html.Tree)
		}
		n.byKey[key] = c
	}
	return n, nil
}

// contactVars lists the contact variables a template uses outside any
// if, with or range: .Name, .FirstName, .Email, .Phone, .ExternalID,
// .Locale, .Country as "Name" etc., and .Attrs.x or (index .Attrs "x") as
// "Attrs.x". A notice that uses one of them for a contact who has it empty
// would go out with a hole ("Dear ,"), so the campaign check reports it.
// Uses inside a conditional are the operator saying "optional".
func contactVars(trees ...*parse.Tree) []string {
	seen := map[string]bool{}
	var out []string
	add := func(v string) {
		if !seen[v] {
			seen[v] = true
			out = append(out, v)
		}
	}
	for _, tr := range trees {
		if tr == nil || tr.Root == nil {
			continue
		}
		for _, node := range tr.Root.Nodes {
			action, ok := node.(*parse.ActionNode)
			if !ok || action.Pipe == nil {
				continue
			}
			for _, cmd := range action.Pipe.Cmds {
				for i, arg := range cmd.Args {
					switch a := arg.(type) {
					case *parse.FieldNode:
						if v := fieldVar(a.Ident); v != "" {
							add(v)
						}
					case *parse.IdentifierNode:
						// index .Attrs "x"
						if a.Ident == "index" && i == 0 && len(cmd.Args) == 3 {
							f, ok1 := cmd.Args[1].(*parse.FieldNode)
							key, ok2 := cmd.Args[2].(*parse.StringNode)
							if ok1 && ok2 && len(f.Ident) == 1 && f.Ident[0] == "Attrs" {
								add("Attrs." + key.Text)
							}
						}
					}
				}
			}
		}
	}
	return out
}

func fieldVar(ident []string) string {
	switch {
	case len(ident) == 1:
		switch ident[0] {
		case "Name", "FirstName", "Email", "Phone", "ExternalID", "Locale", "Country":
			return ident[0]
		}
	case len(ident) == 2 && ident[0] == "Attrs":
		return "Attrs." + ident[1]
	}
	return ""
}

// emptyVars returns the locale of the template for k and the variables it
// uses that contact ct has empty.
func (n *Notices) emptyVars(k ChannelKind, ct *Contact) (string, []string) {
	tpl, locale, ok := n.lookup(k, ct.Locale)
	if !ok {
		return "", nil
	}
	first, _, _ := strings.Cut(strings.TrimSpace(ct.Name), " ")
	var out []string
	for _, v := range tpl.vars {
		var val string
		switch v {
		case "Name":
			val = ct.Name
		case "FirstName":
			val = first
		case "Email":
			val = ct.Email
		case "Phone":
			val = ct.Phone
		case "ExternalID":
			val = ct.ExternalID
		case "Locale":
			val = ct.Locale
		case "Country":
			val = ct.Country
		default:
			val = ct.Attrs[strings.TrimPrefix(v, "Attrs.")]
		}
		if strings.TrimSpace(val) == "" {
			out = append(out, v)
		}
	}
	return locale, out
}

// LocaleChain is the order in which locales are tried for a contact: the
// contact's own ("nb-no"), its language ("nb"), the language's common
// alias ("no" for Bokmål and Nynorsk alike), then the campaign default.
func LocaleChain(locale, defaultLocale string) []string {
	var chain []string
	add := func(l string) {
		if l == "" {
			return
		}
		for _, c := range chain {
			if c == l {
				return
			}
		}
		chain = append(chain, l)
	}
	l := normLocale(locale)
	add(l)
	base, _, _ := strings.Cut(l, "-")
	add(base)
	switch base {
	case "nb", "nn":
		add("no")
		add("nb")
	case "no":
		add("nb")
	}
	add(normLocale(defaultLocale))
	return chain
}

func normLocale(l string) string {
	return strings.ToLower(strings.ReplaceAll(strings.TrimSpace(l), "_", "-"))
}

// templateChannel maps a channel to the templates it uses: the file
// channel is a dry run of e-mail.
func templateChannel(k ChannelKind) ChannelKind {
	if k == File {
		return Email
	}
	return k
}

// lookup finds the template for k in the first locale of the chain that
// has one.
func (n *Notices) lookup(k ChannelKind, locale string) (*compiled, string, bool) {
	for _, l := range LocaleChain(locale, n.defaultLocale) {
		if c, ok := n.byKey[TemplateKey{Channel: templateChannel(k), Locale: l}]; ok {
			return c, l, true
		}
	}
	return nil, "", false
}

// Has reports whether a template exists for channel k in some locale of
// the chain for locale.
func (n *Notices) Has(k ChannelKind, locale string) bool {
	_, _, ok := n.lookup(k, locale)
	return ok
}

// Render produces the message contact ct gets on channel k. The message's
// To is the contact's address on k.
func (n *Notices) Render(c *Campaign, ct *Contact, k ChannelKind) (*Message, error) {
	tpl, locale, ok := n.lookup(k, ct.Locale)
	if !ok {
		return nil, Errorf(EINVALID, "campaign %s has no %s template for locale %q nor for the default %q", c.Name, templateChannel(k), ct.Locale, n.defaultLocale)
	}
	data := dataFor(c, ct)
	m := &Message{
		CampaignID: c.ID,
		Channel:    k,
		To:         ct.Address(k),
		ToName:     ct.Name,
		Sender:     c.Sender,
		Locale:     locale,
	}
	var err error
	if m.Text, err = execText(tpl.text, data); err != nil {
		return nil, err
	}
	if k == SMS || k == Postal {
		m.Text = strings.TrimSpace(m.Text)
		return m, nil
	}
	if m.Subject, err = execText(tpl.subject, data); err != nil {
		return nil, err
	}
	m.Subject = strings.Join(strings.Fields(m.Subject), " ") // no header injection through a variable
	if tpl.html != nil {
		var b bytes.Buffer
		if err := tpl.html.Execute(&b, data); err != nil {
			return nil, fmt.Errorf("render %s: %w", tpl.html.Name(), err)
		}
		m.HTML = b.String()
	}
	return m, nil
}

func execText(t *texttemplate.Template, data *NoticeData) (string, error) {
	var b strings.Builder
	if err := t.Execute(&b, data); err != nil {
		return "", fmt.Errorf("render %s: %w", t.Name(), err)
	}
	return b.String(), nil
}

func dataFor(c *Campaign, ct *Contact) *NoticeData {
	first, _, _ := strings.Cut(strings.TrimSpace(ct.Name), " ")
	attrs := ct.Attrs
	if attrs == nil {
		attrs = map[string]string{}
	}
	return &NoticeData{
		Name: ct.Name, FirstName: first, Email: ct.Email, Phone: ct.Phone,
		ExternalID: ct.ExternalID, Locale: ct.Locale, Country: ct.Country, Attrs: attrs, Postal: ct.Postal,
		Campaign: CampaignData{Name: c.Name, IncidentRef: c.IncidentRef, FromName: c.Sender.FromName, ReplyTo: c.Sender.ReplyTo},
	}
}
