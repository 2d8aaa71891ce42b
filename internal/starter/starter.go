// Package starter holds herald's starter breach notices: an e-mail (subject,
// text and an HTML part made from the text) and an SMS per language, which
// follow what breach-notice rules ask a notice to say (what happened, what
// information, what to do, whom to ask). Their «placeholders» are for the
// organisation to fill in; the campaign check reports any left.
//
// `herald templates init` writes them to a folder and the console's "new
// campaign" form starts a campaign from them.
package starter

import (
	"embed"
	"fmt"
	"html"
	"io/fs"
	"path"
	"strings"

	"github.com/heraldhq/herald/dispatcher"
)

//go:embed notices
var notices embed.FS

// Locales are the languages herald ships starter notices in.
var Locales = []string{"nb", "nn", "sv", "da", "nl", "en", "de", "fr"}

// Has reports whether there are starter notices for locale.
func Has(locale string) bool {
	for _, l := range Locales {
		if l == locale {
			return true
		}
	}
	return false
}

// Files returns the starter files of locale by file name (email.subject,
// email.txt, email.html, sms.txt), as a templates folder holds them.
func Files(locale string) (map[string][]byte, error) {
	if !Has(locale) {
		return nil, dispatcher.Errorf(dispatcher.EINVALID, "no starter notices for locale %q: choose from %s", locale, strings.Join(Locales, ", "))
	}
	entries, err := fs.ReadDir(notices, path.Join("notices", locale))
	if err != nil {
		return nil, fmt.Errorf("starter notices %s: %w", locale, err)
	}
	out := map[string][]byte{}
	for _, e := range entries {
		b, err := notices.ReadFile(path.Join("notices", locale, e.Name()))
		if err != nil {
			return nil, fmt.Errorf("starter notice %s/%s: %w", locale, e.Name(), err)
		}
		out[e.Name()] = b
		if e.Name() == "email.txt" {
			out["email.html"] = []byte(TextToHTML(locale, string(b)))
		}
	}
	return out, nil
}

// Templates returns the starter notices of the given locales as templates
// for a campaign.
func Templates(locales ...string) ([]dispatcher.Template, error) {
	var out []dispatcher.Template
	for _, loc := range locales {
		files, err := Files(loc)
		if err != nil {
			return nil, err
		}
		mail := dispatcher.Template{Channel: dispatcher.Email, Locale: loc, Subject: strings.TrimSpace(string(files["email.subject"])),
			Text: string(files["email.txt"]), HTML: string(files["email.html"])}
		out = append(out, mail, dispatcher.Template{Channel: dispatcher.SMS, Locale: loc, Text: string(files["sms.txt"])})
	}
	return out, nil
}

// TextToHTML turns a starter text notice into its HTML part: paragraphs,
// with a paragraph's first line as a heading when it stands alone.
func TextToHTML(locale, text string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "<!doctype html>\n<html lang=%q><body style=\"font-family: sans-serif; max-width: 40em\">\n", locale)
	for _, para := range strings.Split(strings.TrimSpace(text), "\n\n") {
		lines := strings.Split(para, "\n")
		if len(lines) > 1 && !strings.Contains(lines[0], "{{") && len(lines[0]) < 60 {
			fmt.Fprintf(&b, "<h2>%s</h2>\n", html.EscapeString(lines[0]))
			lines = lines[1:]
		}
		escaped := make([]string, len(lines))
		for i, l := range lines {
			escaped[i] = html.EscapeString(l) // template actions have no HTML specials in the starters
		}
		fmt.Fprintf(&b, "<p>%s</p>\n", strings.Join(escaped, "<br>\n"))
	}
	b.WriteString("</body></html>\n")
	return b.String()
}
