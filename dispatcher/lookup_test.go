package dispatcher

import (
	"context"
	"errors"
	"reflect"
	"testing"
)

// finderMap answers FindContacts from a map and records the queries.
type finderMap struct {
	by      map[string][]Contact
	queries []string
	err     error
}

func (f *finderMap) FindContacts(_ context.Context, q string) ([]Contact, error) {
	f.queries = append(f.queries, q)
	return f.by[q], f.err
}

func TestFindContactsExact(t *testing.T) {
	kari := Contact{ID: 1, Phone: "+4796262050"}
	ola := Contact{ID: 2, ExternalID: "96262050"}
	f := &finderMap{by: map[string][]Contact{
		"+4796262050":     {kari},
		"96262050":        {ola, kari}, // kari also matched as given: listed once
		"kari@example.no": {{ID: 3}},
	}}
	tests := []struct {
		q, region string
		want      []int64
		queries   []string
	}{
		{"96262050", "NO", []int64{2, 1}, []string{"96262050", "+4796262050"}},
		{"+47 962 62 050", "", []int64{1}, []string{"+47 962 62 050", "+4796262050"}},
		{"+4796262050", "", []int64{1}, []string{"+4796262050"}}, // already E.164: one query
		{"kari@example.no", "NO", []int64{3}, []string{"kari@example.no"}},
		{"96262050", "", []int64{2, 1}, []string{"96262050"}}, // no region: not a number
	}
	for _, tt := range tests {
		f.queries = nil
		got, err := FindContactsExact(context.Background(), f, tt.q, tt.region)
		if err != nil {
			t.Fatalf("%q: %v", tt.q, err)
		}
		var ids []int64
		for _, c := range got {
			ids = append(ids, c.ID)
		}
		if !reflect.DeepEqual(ids, tt.want) || !reflect.DeepEqual(f.queries, tt.queries) {
			t.Errorf("%q region %q: ids %v after queries %q, want %v after %q", tt.q, tt.region, ids, f.queries, tt.want, tt.queries)
		}
	}
	boom := errors.New("ledger down")
	if _, err := FindContactsExact(context.Background(), &finderMap{err: boom}, "x", ""); !errors.Is(err, boom) {
		t.Errorf("error = %v, want the store's", err)
	}
}

func TestIsNameQuery(t *testing.T) {
	for q, want := range map[string]bool{
		"Bjørn Ødegård":   true,
		"odegard":         true,
		"王伟":              true,
		"kari@example.no": false,
		"+47 962 62 050":  false,
		"12345":           false,
		"":                false,
	} {
		if got := IsNameQuery(q); got != want {
			t.Errorf("IsNameQuery(%q) = %v, want %v", q, got, want)
		}
	}
}
