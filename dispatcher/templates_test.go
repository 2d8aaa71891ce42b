package dispatcher

import (
	"strings"
	"testing"
)

func TestPrepareTemplates(t *testing.T) {
	mail := func(loc, subject, text string) Template {
		return Template{Channel: Email, Locale: loc, Subject: subject, Text: text}
	}
	sms := func(loc, text string) Template { return Template{Channel: SMS, Locale: loc, Text: text} }
	tests := []struct {
		name    string
		in      []Template
		want    []Template // nil: an error containing wantErr
		wantErr string
	}{
		{"locales in one form", []Template{sms("NB_no", "a"), mail(" En ", "s", "b")},
			[]Template{sms("nb-no", "a"), mail("en", "s", "b")}, ""},
		{"the last of a key wins, in the first's place", []Template{sms("nb", "a"), mail("en", "s", "b"), sms("NB", "c")},
			[]Template{sms("nb", "c"), mail("en", "s", "b")}, ""},
		{"e-mail without a subject", []Template{mail("nb", " ", "b")}, nil, "needs a subject"},
		{"empty SMS", []Template{sms("nb", "\n")}, nil, "is empty"},
		{"not a language code", []Template{sms("nb/../x", "a")}, nil, "give it as a code"},
		{"no language", []Template{sms("", "a")}, nil, "give it as a code"},
	}
	for _, tt := range tests {
		got, err := PrepareTemplates(tt.in)
		if tt.want == nil {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) || ErrorCode(err) != EINVALID {
				t.Errorf("%s: err = %v, want EINVALID with %q", tt.name, err, tt.wantErr)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", tt.name, err)
			continue
		}
		if len(got) != len(tt.want) {
			t.Errorf("%s: got %+v, want %+v", tt.name, got, tt.want)
			continue
		}
		for i := range got {
			if got[i] != tt.want[i] {
				t.Errorf("%s: [%d] = %+v, want %+v", tt.name, i, got[i], tt.want[i])
			}
		}
	}
}
