package csvsafe

import (
	"slices"
	"testing"
)

func TestCells(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", ""},
		{"Ola Nordmann", "Ola Nordmann"},
		{"=HYPERLINK(\"http://x\")", "'=HYPERLINK(\"http://x\")"},
		{"+4791234567", "'+4791234567"},
		{"-1", "'-1"},
		{"@SUM(A1)", "'@SUM(A1)"},
		{"\tx", "'\tx"},
		{"\rx", "'\rx"},
		{"Ærlig Øystein", "Ærlig Øystein"},
		{"a=b", "a=b"},
	}
	for _, tt := range tests {
		if got := Cell(tt.in); got != tt.want {
			t.Errorf("Cell(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
	in := []string{"=1", "ok"}
	got := Cells(in)
	if !slices.Equal(got, []string{"'=1", "ok"}) || in[0] != "=1" {
		t.Errorf("Cells = %q (input now %q); want a neutralised copy", got, in)
	}
}
