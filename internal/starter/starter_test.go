package starter

import (
	"strings"
	"testing"

	"github.com/heraldhq/herald/dispatcher"
)

// TestTemplates: every language's starter notices compile, cover e-mail
// and SMS, and read the same as the files `herald templates init` writes.
func TestTemplates(t *testing.T) {
	ts, err := Templates(Locales...)
	if err != nil {
		t.Fatal(err)
	}
	if len(ts) != 2*len(Locales) {
		t.Fatalf("%d templates for %d locales", len(ts), len(Locales))
	}
	for _, loc := range Locales {
		c := &dispatcher.Campaign{DefaultLocale: loc, Policy: dispatcher.Policy{dispatcher.Email, dispatcher.SMS}}
		if err := c.TemplatesCover(ts); err != nil {
			t.Errorf("%s: %v", loc, err)
		}
		files, err := Files(loc)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(files["email.html"]), `<html lang="`+loc+`">`) || len(files["sms.txt"]) == 0 {
			t.Errorf("%s files: %v", loc, files)
		}
	}
	if _, err := Templates("xx"); dispatcher.ErrorCode(err) != dispatcher.EINVALID || !strings.Contains(err.Error(), "choose from nb") {
		t.Errorf("unknown locale: %v", err)
	}
}
