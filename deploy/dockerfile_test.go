package deploy

import (
	"encoding/json"
	"os"
	"path"
	"regexp"
	"strings"
	"testing"
)

// instruction is one Dockerfile instruction, continuation lines joined.
type instruction struct {
	cmd  string // upper case: FROM, RUN, ...
	args string
}

func parseDockerfile(t *testing.T, name string) []instruction {
	t.Helper()
	var out []instruction
	var cur strings.Builder
	for _, line := range strings.Split(string(readFile(t, name)), "\n") {
		trimmed := strings.TrimSpace(line)
		if cur.Len() == 0 && (trimmed == "" || strings.HasPrefix(trimmed, "#")) {
			continue
		}
		if cont, ok := strings.CutSuffix(trimmed, "\\"); ok {
			cur.WriteString(cont + " ")
			continue
		}
		cur.WriteString(trimmed)
		cmd, args, _ := strings.Cut(cur.String(), " ")
		out = append(out, instruction{strings.ToUpper(cmd), strings.TrimSpace(args)})
		cur.Reset()
	}
	return out
}

func TestDockerfile(t *testing.T) {
	ins := parseDockerfile(t, "Dockerfile")
	var stages []string
	args := map[string]string{}
	last := -1
	for i, in := range ins {
		switch in.cmd {
		case "FROM":
			stages = append(stages, in.args)
			last = i
		case "ARG":
			if k, v, ok := strings.Cut(in.args, "="); ok {
				args[k] = v
			}
		}
	}
	if len(stages) < 2 {
		t.Fatalf("stages %v: want a build stage and a runtime stage", stages)
	}
	// The Go of the build stage is the one go.mod asks for.
	goMod := string(readFile(t, "../go.mod"))
	m := regexp.MustCompile(`(?m)^go (\d+\.\d+)`).FindStringSubmatch(goMod)
	if m == nil {
		t.Fatal("go.mod has no go directive")
	}
	if !strings.Contains(stages[0], "golang:${GO_VERSION}") || args["GO_VERSION"] != m[1] {
		t.Errorf("build stage %q with GO_VERSION=%q, want golang:${GO_VERSION} with %s as in go.mod", stages[0], args["GO_VERSION"], m[1])
	}
	final := stages[len(stages)-1]
	if !strings.HasPrefix(final, "gcr.io/distroless/static") && final != "scratch" {
		t.Errorf("runtime stage %q, want distroless static (CA certificates, tzdata, no shell)", final)
	}

	var build, user, entrypoint string
	var copied, exposed []string
	for _, in := range ins[last:] {
		switch in.cmd {
		case "USER":
			user = in.args
		case "ENTRYPOINT":
			entrypoint = in.args
		case "COPY":
			copied = append(copied, in.args)
		case "EXPOSE":
			exposed = append(exposed, strings.Fields(in.args)...)
		}
	}
	for _, in := range ins[:last] {
		if in.cmd == "RUN" && strings.Contains(in.args, "go build") {
			build = in.args
		}
	}
	for _, want := range []string{"CGO_ENABLED=0", "-trimpath", "./cmd/herald", "-o /out/herald"} {
		if !strings.Contains(build, want) {
			t.Errorf("go build %q lacks %s", build, want)
		}
	}
	if _, err := os.Stat("../cmd/herald/main.go"); err != nil {
		t.Errorf("the build's package: %v", err)
	}
	if uid, _, _ := strings.Cut(user, ":"); uid == "" || uid == "0" || uid == "root" {
		t.Errorf("USER %q, want a non-root user", user)
	}
	var ep []string
	if err := json.Unmarshal([]byte(entrypoint), &ep); err != nil || len(ep) != 1 || ep[0] != "/herald" {
		t.Errorf(`ENTRYPOINT %s, want ["/herald"] (exec form: signals reach herald)`, entrypoint)
	}
	if !contains(copied, "--from=build /out/herald /herald") {
		t.Errorf("COPY %v: the binary is not copied to /herald", copied)
	}
	// The ports the manifests use: serve 8080, bounce receiver 2525.
	for _, p := range []string{"8080", "2525"} {
		if !contains(exposed, p) {
			t.Errorf("EXPOSE %v lacks %s", exposed, p)
		}
	}
}

// TestDockerignore checks the build context: no ledgers, binaries or
// secrets go in, and nothing the build needs is left out.
func TestDockerignore(t *testing.T) {
	var patterns []string
	for _, line := range strings.Split(string(readFile(t, "Dockerfile.dockerignore")), "\n") {
		if line = strings.TrimSpace(line); line != "" && !strings.HasPrefix(line, "#") {
			patterns = append(patterns, line)
		}
	}
	ignored := func(p string) bool {
		for _, pat := range patterns {
			pat = strings.TrimPrefix(pat, "/")
			for q := p; q != "." && q != "/"; q = path.Dir(q) {
				if ok, _ := path.Match(strings.TrimPrefix(pat, "**/"), path.Base(q)); ok && strings.HasPrefix(pat, "**/") {
					return true
				}
				if ok, _ := path.Match(pat, q); ok {
					return true
				}
			}
		}
		return false
	}
	for _, p := range []string{".git/config", "herald.db", "herald", "herald.exe", "deploy/.env", "deploy/secrets/verp-key", "contacts.rejects.csv"} {
		if !ignored(p) {
			t.Errorf("%s goes into the build context", p)
		}
	}
	for _, p := range []string{"go.mod", "go.sum", "cmd/herald/main.go", "dispatcher/campaign.go", "store/migrations/postgres/0001_init.sql", "web/static/app.css", "deploy/Dockerfile"} {
		if ignored(p) {
			t.Errorf("%s is left out of the build context, which the build needs", p)
		}
	}
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
