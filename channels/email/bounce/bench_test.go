package bounce

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// BenchmarkParse measures a typical Postfix DSN and a text-only bounce
// that goes through the non-standard path.
func BenchmarkParse(b *testing.B) {
	for _, bc := range []struct{ name, msg string }{
		{"postfix-dsn", postfixDSN},
		{"exim-text", eximText},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(bc.msg)))
			for b.Loop() {
				if _, err := Parse(strings.NewReader(bc.msg)); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkParseCorpus parses the whole development corpus once per
// iteration.
func BenchmarkParseCorpus(b *testing.B) {
	files, _ := filepath.Glob(filepath.Join("testdata", "corpus", "dev", "*.eml"))
	var msgs [][]byte
	for _, f := range files {
		m, err := os.ReadFile(f)
		if err != nil {
			b.Fatal(err)
		}
		msgs = append(msgs, m)
	}
	b.ReportAllocs()
	for b.Loop() {
		for _, m := range msgs {
			if _, err := Parse(strings.NewReader(string(m))); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(msgs))/1e3, "µs/msg")
}
