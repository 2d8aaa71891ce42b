package deploy

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// heraldSource is the command whose settings and subcommands the
// deployment files must name correctly.
const heraldSource = "../cmd/herald"

var variableRE = regexp.MustCompile(`^HERALD_[A-Z0-9_]+$`)

// heraldCLI is what cmd/herald reads and offers, taken from its source.
type heraldCLI struct {
	variables   map[string]bool // every HERALD_* name herald reads
	subcommands map[string]bool // first words of the cobra commands' Use
}

var (
	heraldOnce sync.Once
	heraldInfo heraldCLI
	heraldErr  error
)

// herald parses cmd/herald (tests excluded) once: string literals that
// are HERALD_* names, NAME_FILE for every NAME passed to secret(), and the
// Use of each cobra.Command.
func herald(t *testing.T) heraldCLI {
	t.Helper()
	heraldOnce.Do(func() { heraldInfo, heraldErr = parseHerald(heraldSource) })
	if heraldErr != nil {
		t.Fatalf("read herald's source: %v", heraldErr)
	}
	return heraldInfo
}

func parseHerald(dir string) (heraldCLI, error) {
	c := heraldCLI{variables: map[string]bool{}, subcommands: map[string]bool{}}
	files, err := filepath.Glob(filepath.Join(dir, "*.go"))
	if err != nil {
		return c, err
	}
	fset := token.NewFileSet()
	secrets := 0
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		file, err := parser.ParseFile(fset, f, nil, parser.SkipObjectResolution)
		if err != nil {
			return c, err
		}
		ast.Inspect(file, func(n ast.Node) bool {
			switch n := n.(type) {
			case *ast.BasicLit:
				if s, err := strconv.Unquote(n.Value); err == nil && n.Kind == token.STRING && variableRE.MatchString(s) {
					c.variables[s] = true
				}
			case *ast.CallExpr:
				// secret(getenv, "HERALD_SMTP_PASSWORD") also reads NAME_FILE.
				if id, ok := n.Fun.(*ast.Ident); ok && id.Name == "secret" && len(n.Args) == 2 {
					if lit, ok := n.Args[1].(*ast.BasicLit); ok {
						if s, err := strconv.Unquote(lit.Value); err == nil {
							c.variables[s+"_FILE"] = true
							secrets++
						}
					}
				}
			case *ast.KeyValueExpr:
				if id, ok := n.Key.(*ast.Ident); ok && id.Name == "Use" {
					if lit, ok := n.Value.(*ast.BasicLit); ok {
						if s, err := strconv.Unquote(lit.Value); err == nil {
							c.subcommands[strings.Fields(s + " x")[0]] = true
						}
					}
				}
			}
			return true
		})
	}
	if len(c.variables) < 10 || secrets == 0 || !c.subcommands["worker"] {
		return c, fmt.Errorf("found %d settings, %d secret() calls and subcommands %v in %s: has its configuration moved? Update helpers_test.go",
			len(c.variables), secrets, keys(c.subcommands), dir)
	}
	return c, nil
}

// checkVariables fails for every HERALD_* name herald does not read: a
// misspelt setting is silently ignored by herald, so it is caught here.
func checkVariables(t *testing.T, where string, names []string) {
	t.Helper()
	known := herald(t).variables
	for _, n := range names {
		if strings.HasPrefix(n, "HERALD_") && !known[n] {
			t.Errorf("%s: %s is not a setting herald reads (see cmd/herald/config.go)", where, n)
		}
	}
}

// checkSubcommand fails unless args start with a herald subcommand.
func checkSubcommand(t *testing.T, where string, args []string, want string) {
	t.Helper()
	if len(args) == 0 {
		t.Errorf("%s: no herald subcommand", where)
		return
	}
	if args[0] != want {
		t.Errorf("%s: runs herald %s, want herald %s", where, args[0], want)
	}
	if !herald(t).subcommands[args[0]] {
		t.Errorf("%s: herald has no subcommand %q (has %v)", where, args[0], keys(herald(t).subcommands))
	}
}

func readFile(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// readEnvFile reads KEY=VALUE lines, skipping blanks and comments.
func readEnvFile(t *testing.T, path string) map[string]string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	env := map[string]string{}
	for i, line := range strings.Split(string(b), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok || k == "" || strings.ContainsAny(k, " \t") {
			t.Errorf("%s:%d: not KEY=VALUE: %q", path, i+1, line)
			continue
		}
		if _, dup := env[k]; dup {
			t.Errorf("%s:%d: %s set twice", path, i+1, k)
		}
		env[k] = v
	}
	return env
}

// secretLike reports whether a setting holds a secret itself rather than
// the path of a file holding it.
func secretLike(name, value string) bool {
	if strings.HasSuffix(name, "_FILE") {
		return false
	}
	for _, s := range []string{"PASSWORD", "TOKEN", "VERP_KEY", "SECRET"} {
		if strings.Contains(name, s) {
			return true
		}
	}
	// user:password@ in a URL
	if _, rest, ok := strings.Cut(value, "://"); ok {
		if userinfo, _, ok := strings.Cut(rest, "@"); ok && strings.Contains(userinfo, ":") {
			return true
		}
	}
	return false
}

func keys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
