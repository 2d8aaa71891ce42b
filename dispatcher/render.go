package dispatcher

import (
	"bytes"
	"fmt"
	htmltemplate "html/template"
	"strings"
	texttemplate "text/template"
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
}

// CampaignData is the part of the campaign a template may show.
type CampaignData struct {
	Name        string
	IncidentRef string
	FromName    string
	ReplyTo     string
}

// CompileTemplates parses every template of a campaign. Templates refer to
// variables strictly (missingkey=error), so a notice never goes out with a
// silent "<no value>" where a name or a reference should be.
func CompileTemplates(defaultLocale string, ts []Template) (*Notices, error) {
	n := &Notices{defaultLocale: normLocale(defaultLocale), byKey: make(map[TemplateKey]*compiled, len(ts))}
	for _, t := range ts {
		key := TemplateKey{Channel: t.Channel, Locale: normLocale(t.Locale)}
		c := &compiled{}
		var err error
		name := key.String()
		if c.subject, err = texttemplate.New(name + "/subject").Option("missingkey=error").Parse(t.Subject); err != nil {
			return nil, Errorf(EINVALID, "template %s subject: %v", name, err)
		}
		if c.text, err = texttemplate.New(name + "/text").Option("missingkey=error").Parse(t.Text); err != nil {
			return nil, Errorf(EINVALID, "template %s text: %v", name, err)
		}
		if strings.TrimSpace(t.HTML) != "" {
			if c.html, err = htmltemplate.New(name + "/html").Option("missingkey=error").Parse(t.HTML); err != nil {
				return nil, Errorf(EINVALID, "template %s html: %v", name, err)
			}
		}
		n.byKey[key] = c
	}
	return n, nil
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
	if k == SMS {
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
		ExternalID: ct.ExternalID, Locale: ct.Locale, Country: ct.Country, Attrs: attrs,
		Campaign: CampaignData{Name: c.Name, IncidentRef: c.IncidentRef, FromName: c.Sender.FromName, ReplyTo: c.Sender.ReplyTo},
	}
}
