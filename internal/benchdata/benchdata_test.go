package benchdata_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/heraldhq/herald/dispatcher"
	"github.com/heraldhq/herald/internal/benchdata"
)

// TestImporterAgrees reads generated lists with the importer's own reader
// and checks that what it accepts, rejects and warns about is exactly what
// Expect promises, and that every number and address the list means to be
// good is good: a generator whose "valid" numbers fail validation would
// make the bench measure rejections instead of sends.
func TestImporterAgrees(t *testing.T) {
	for _, n := range []int{0, 1, 199, 200, 12_345} {
		var buf bytes.Buffer
		got, err := benchdata.Write(context.Background(), &buf, n)
		if err != nil {
			t.Fatal(err)
		}
		if want := benchdata.Expect(n); got != want {
			t.Fatalf("n=%d: Write returned %+v, Expect %+v", n, got, want)
		}
		cr, err := dispatcher.NewContactReader(&buf, dispatcher.ImportOptions{})
		if err != nil {
			t.Fatal(err)
		}
		var s benchdata.Summary
		countries := map[string]bool{}
		for {
			r, err := cr.Next()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			s.Rows++
			switch {
			case r.Contact == nil:
				s.Rejected++
				continue
			case len(r.Rejects) > 0:
				s.Warnings++
			}
			s.Accepted++
			if r.Contact.Email != "" {
				s.ByEmail++
			} else {
				s.BySMS++
			}
			countries[r.Contact.Country] = true
			if r.Contact.Locale == "" || r.Contact.Country == "" || r.Contact.Attrs["rolle"] == "" {
				t.Fatalf("n=%d row %d: contact %+v lacks locale, country or rolle", n, r.Row, r.Contact)
			}
		}
		if want := benchdata.Expect(n); s != want {
			t.Errorf("n=%d: importer saw %+v, Expect says %+v", n, s, want)
		}
		if n > 10_000 && len(countries) < 14 {
			t.Errorf("n=%d: only %d countries: %v", n, len(countries), countries)
		}
	}
}

// TestBadShare checks the list's bad rows are about 2 %, as documented.
func TestBadShare(t *testing.T) {
	s := benchdata.Expect(1_000_000)
	bad := s.Rejected + s.Warnings
	if bad != 20_000 {
		t.Errorf("bad rows in 1,000,000: %d, want 20,000 (2 %%)", bad)
	}
	if s.Accepted+s.Rejected != s.Rows || s.ByEmail+s.BySMS != s.Accepted {
		t.Errorf("summary does not add up: %+v", s)
	}
}

// TestDeterministic checks that a row depends on its number only, and that
// rows are distinct people.
func TestDeterministic(t *testing.T) {
	var a, b bytes.Buffer
	if _, err := benchdata.Write(context.Background(), &a, 500); err != nil {
		t.Fatal(err)
	}
	if _, err := benchdata.Write(context.Background(), &b, 1000); err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(b.Bytes(), a.Bytes()) {
		t.Fatal("the first 500 rows of a 1000-row list differ from a 500-row list")
	}
	if got, want := strings.Join(benchdata.Row(77), ","), strings.Split(a.String(), "\n")[77]; got != want {
		t.Errorf("Row(77) = %q, line 77 of the file = %q", got, want)
	}
	ids := map[string]bool{}
	for i := 1; i <= 1000; i++ {
		id := benchdata.Row(i)[0]
		if ids[id] {
			t.Fatalf("row %d repeats id %s", i, id)
		}
		ids[id] = true
	}
}

func TestWriteStopsWithContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := benchdata.Write(ctx, io.Discard, 100_000); !errors.Is(err, context.Canceled) {
		t.Fatalf("Write with a cancelled context: %v, want context.Canceled", err)
	}
}

func BenchmarkWrite(b *testing.B) {
	for b.Loop() {
		if _, err := benchdata.Write(context.Background(), io.Discard, 10_000); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(10_000*b.N)/b.Elapsed().Seconds(), "rows/s")
}
