package dispatcher

import (
	"errors"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strings"
)

// LoadTemplates reads a campaign's templates from a folder laid out as
//
//	<locale>/email.subject   the e-mail subject line
//	<locale>/email.txt       the e-mail text part
//	<locale>/email.html      the e-mail HTML part (optional)
//	<locale>/sms.txt         the SMS text
//	<locale>/letter.txt      the letter of the postal channel
//
// e.g. nb/email.txt, en/sms.txt. Files are UTF-8. Unknown files are an
// error, so a typo (emial.txt) is caught instead of silently ignored.
func LoadTemplates(fsys fs.FS) ([]Template, error) {
	byKey := map[TemplateKey]*Template{}
	err := fs.WalkDir(fsys, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() || strings.HasPrefix(d.Name(), ".") {
			return nil
		}
		dir, file := path.Split(p)
		locale := strings.Trim(dir, "/")
		if locale == "" || strings.Contains(locale, "/") {
			return Errorf(EINVALID, "template file %s: put it in a folder named for its locale, e.g. nb/%s", p, file)
		}
		var k ChannelKind
		var part string
		switch file {
		case "email.subject":
			k, part = Email, "subject"
		case "email.txt":
			k, part = Email, "text"
		case "email.html":
			k, part = Email, "html"
		case "sms.txt":
			k, part = SMS, "text"
		case "letter.txt":
			k, part = Postal, "text"
		default:
			return Errorf(EINVALID, "template file %s: unknown name %q; use email.subject, email.txt, email.html, sms.txt or letter.txt", p, file)
		}
		b, err := fs.ReadFile(fsys, p)
		if err != nil {
			return fmt.Errorf("read template %s: %w", p, err)
		}
		key := TemplateKey{Channel: k, Locale: normLocale(locale)}
		t := byKey[key]
		if t == nil {
			t = &Template{Channel: k, Locale: key.Locale}
			byKey[key] = t
		}
		switch part {
		case "subject":
			t.Subject = strings.TrimSpace(string(b))
		case "text":
			t.Text = string(b)
		case "html":
			t.HTML = string(b)
		}
		return nil
	})
	if err != nil {
		var de *Error
		if errors.As(err, &de) {
			return nil, err
		}
		return nil, fmt.Errorf("load templates: %w", err)
	}
	var out []Template
	for _, t := range byKey {
		if t.Channel == Email && (t.Subject == "" || strings.TrimSpace(t.Text) == "") {
			return nil, Errorf(EINVALID, "e-mail template %s needs both %s/email.subject and %s/email.txt (a text part is required even when there is HTML)", t.Locale, t.Locale, t.Locale)
		}
		if t.Channel == SMS && strings.TrimSpace(t.Text) == "" {
			return nil, Errorf(EINVALID, "SMS template %s/sms.txt is empty", t.Locale)
		}
		if t.Channel == Postal && strings.TrimSpace(t.Text) == "" {
			return nil, Errorf(EINVALID, "letter template %s/letter.txt is empty", t.Locale)
		}
		out = append(out, *t)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Locale != out[j].Locale {
			return out[i].Locale < out[j].Locale
		}
		return out[i].Channel < out[j].Channel
	})
	return out, nil
}

// TemplateFile names the file holding the text of channel k's template in
// a locale folder: email.txt, sms.txt or letter.txt (the file channel uses
// e-mail's).
func TemplateFile(k ChannelKind) string {
	switch templateChannel(k) {
	case SMS:
		return "sms.txt"
	case Postal:
		return "letter.txt"
	}
	return "email.txt"
}

// TemplateLocale is the form a template's locale is kept in (lower case,
// "-" between its parts: "nb_NO" and "NB-no" are both "nb-no"), so that a
// notice saved from a form, the API or a folder lands on one key. It
// refuses what cannot be a language code.
func TemplateLocale(s string) (string, error) {
	l := normLocale(s)
	if len(l) < 2 || len(l) > 35 || strings.IndexFunc(l, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-')
	}) >= 0 {
		return "", Errorf(EINVALID, "template language %q: give it as a code such as nb, en or pt-br", s)
	}
	return l, nil
}

// PrepareTemplates readies templates given by hand (a form, the API) to be
// saved: each locale in TemplateLocale's form, an e-mail with a subject
// and a text part, no empty notice; of a channel × locale given twice the
// last wins. Whether they compile is CompileTemplates' business.
func PrepareTemplates(ts []Template) ([]Template, error) {
	out := make([]Template, 0, len(ts))
	at := map[TemplateKey]int{}
	for _, t := range ts {
		l, err := TemplateLocale(t.Locale)
		if err != nil {
			return nil, err
		}
		t.Locale = l
		if t.Channel == Email && (strings.TrimSpace(t.Subject) == "" || strings.TrimSpace(t.Text) == "") {
			return nil, Errorf(EINVALID, "the e-mail in %s needs a subject and a text part (the HTML part is optional)", l)
		}
		if strings.TrimSpace(t.Text) == "" {
			return nil, Errorf(EINVALID, "the %s notice in %s is empty", t.Channel, l)
		}
		k := TemplateKey{Channel: t.Channel, Locale: l}
		if i, ok := at[k]; ok {
			out[i] = t
			continue
		}
		at[k] = len(out)
		out = append(out, t)
	}
	return out, nil
}
