package deploy

import (
	"bufio"
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// unit is a parsed systemd unit file: section -> key -> values in order
// (a key may repeat, as SystemCallFilter does).
type unit map[string]map[string][]string

func (u unit) get(section, key string) string {
	v := u[section][key]
	if len(v) == 0 {
		return ""
	}
	return v[len(v)-1]
}

func parseUnit(t *testing.T, path string) unit {
	t.Helper()
	u := unit{}
	section := ""
	sc := bufio.NewScanner(bytes.NewReader(readFile(t, path)))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "" || strings.HasPrefix(line, "#") || strings.HasPrefix(line, ";"):
		case strings.HasPrefix(line, "[") && strings.HasSuffix(line, "]"):
			section = line[1 : len(line)-1]
			if u[section] == nil {
				u[section] = map[string][]string{}
			}
		case strings.HasSuffix(line, "\\"):
			t.Fatalf("%s:%d: continuation lines are not supported by this test", path, n)
		default:
			k, v, ok := strings.Cut(line, "=")
			if !ok || section == "" {
				t.Fatalf("%s:%d: not Key=Value in a section: %q", path, n, line)
			}
			u[section][k] = append(u[section][k], v)
		}
	}
	return u
}

func TestSystemdUnits(t *testing.T) {
	services := []struct {
		file, subcommand string
		capabilities     string // CapabilityBoundingSet
	}{
		{"herald-serve.service", "serve", ""},
		{"herald-worker@.service", "worker", ""},
		{"herald-bounce-receiver.service", "bounce-receiver", "CAP_NET_BIND_SERVICE"},
		{"herald-reconcile.service", "reconcile", ""},
	}
	files, err := filepath.Glob("systemd/*.service")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != len(services) {
		t.Errorf("units %v, want the %d this test knows", files, len(services))
	}
	hardening := map[string]string{
		"NoNewPrivileges": "yes", "ProtectSystem": "strict", "ProtectHome": "yes", "PrivateTmp": "yes",
		"PrivateDevices": "yes", "RestrictSUIDSGID": "yes", "LockPersonality": "yes", "UMask": "0077",
	}
	for _, s := range services {
		t.Run(s.file, func(t *testing.T) {
			u := parseUnit(t, filepath.Join("systemd", s.file))
			svc := u["Service"]
			if svc == nil {
				t.Fatal("no [Service]")
			}
			exec := strings.Fields(u.get("Service", "ExecStart"))
			if len(exec) < 2 || exec[0] != "/usr/local/bin/herald" {
				t.Fatalf("ExecStart %v, want /usr/local/bin/herald SUBCOMMAND", exec)
			}
			checkSubcommand(t, s.file, exec[1:], s.subcommand)
			if u.get("Service", "User") != "herald" || u.get("Service", "Group") != "herald" {
				t.Errorf("runs as %s:%s, want herald:herald", u.get("Service", "User"), u.get("Service", "Group"))
			}
			if u.get("Service", "EnvironmentFile") != "/etc/herald/herald.env" {
				t.Errorf("EnvironmentFile %q, want /etc/herald/herald.env", u.get("Service", "EnvironmentFile"))
			}
			for k, want := range hardening {
				if got := u.get("Service", k); got != want {
					t.Errorf("%s=%q, want %q", k, got, want)
				}
			}
			if got := u.get("Service", "CapabilityBoundingSet"); got != s.capabilities {
				t.Errorf("CapabilityBoundingSet=%q, want %q", got, s.capabilities)
			}
			if got := u.get("Service", "AmbientCapabilities"); got != s.capabilities {
				t.Errorf("AmbientCapabilities=%q, want %q", got, s.capabilities)
			}
			for _, e := range svc["Environment"] {
				name, _, _ := strings.Cut(strings.Trim(e, `"`), "=")
				checkVariables(t, s.file, []string{name})
			}
			if s.subcommand == "reconcile" {
				if u.get("Service", "Type") != "oneshot" || u["Install"] != nil {
					t.Errorf("reconcile: Type=%s, [Install] %v: want a oneshot started by its timer only", u.get("Service", "Type"), u["Install"])
				}
				return
			}
			if u.get("Install", "WantedBy") != "multi-user.target" {
				t.Errorf("WantedBy=%q, want multi-user.target", u.get("Install", "WantedBy"))
			}
			if d := systemdDuration(t, u.get("Service", "TimeoutStopSec")); d < 30*time.Second {
				t.Errorf("TimeoutStopSec=%s: running sends need at least 30 s to finish", d)
			}
			if u.get("Service", "Restart") == "" {
				t.Error("no Restart=: a crashed process stays down")
			}
		})
	}

	if u := parseUnit(t, "systemd/herald-worker@.service"); !strings.Contains(u.get("Unit", "Description"), "%i") {
		t.Error("herald-worker@.service: Description does not name the instance (%i)")
	}

	timer := parseUnit(t, "systemd/herald-reconcile.timer")
	if timer.get("Timer", "OnCalendar") != "hourly" || timer.get("Timer", "Unit") != "herald-reconcile.service" || timer.get("Timer", "Persistent") != "true" {
		t.Errorf("timer %v: want herald-reconcile.service hourly, caught up after downtime", timer["Timer"])
	}
	if timer.get("Install", "WantedBy") != "timers.target" {
		t.Errorf("timer WantedBy=%q, want timers.target", timer.get("Install", "WantedBy"))
	}

	env := readEnvFile(t, "systemd/herald.env.example")
	checkVariables(t, "systemd/herald.env.example", keys(env))
	for k, v := range env {
		if secretLike(k, v) {
			t.Errorf("herald.env.example: %s holds a secret; use %s_FILE", k, k)
		}
	}
	if env["HERALD_BOUNCE_LISTEN"] != ":25" {
		t.Errorf("herald.env.example: HERALD_BOUNCE_LISTEN=%q, want :25 (the unit may bind it)", env["HERALD_BOUNCE_LISTEN"])
	}
}

// systemdDuration parses the "30s", "1min", "90" forms the units use.
func systemdDuration(t *testing.T, s string) time.Duration {
	t.Helper()
	if n, err := strconv.Atoi(s); err == nil {
		return time.Duration(n) * time.Second
	}
	d, err := time.ParseDuration(strings.Replace(s, "min", "m", 1))
	if err != nil {
		t.Errorf("duration %q: %v", s, err)
	}
	return d
}

// TestSystemdAnalyzeVerify runs systemd's own checker over the units when
// it is installed (it prints unknown directives and bad values but exits
// 0 for them, so any output fails). herald's path is swapped for a stub,
// since verify insists that ExecStart exists.
func TestSystemdAnalyzeVerify(t *testing.T) {
	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Skip("systemd-analyze is not installed")
	}
	out, err := exec.Command(analyze, "--version").Output()
	if err != nil {
		t.Skipf("systemd-analyze --version: %v", err)
	}
	// ProtectProc= and ProcSubset= need systemd 247.
	m := regexp.MustCompile(`^systemd (\d+)`).FindSubmatch(out)
	if m == nil {
		t.Skipf("systemd-analyze --version: unexpected %q", out)
	}
	if v, _ := strconv.Atoi(string(m[1])); v < 247 {
		t.Skipf("systemd %d is older than the units' directives (247)", v)
	}
	dir := t.TempDir()
	stub := filepath.Join(dir, "herald")
	if err := os.WriteFile(stub, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	files, err := filepath.Glob("systemd/herald-*")
	if err != nil {
		t.Fatal(err)
	}
	var args []string
	for _, f := range files {
		b := bytes.ReplaceAll(readFile(t, f), []byte("/usr/local/bin/herald"), []byte(stub))
		dst := filepath.Join(dir, filepath.Base(f))
		if err := os.WriteFile(dst, b, 0o644); err != nil {
			t.Fatal(err)
		}
		args = append(args, dst)
	}
	cmd := exec.Command(analyze, append([]string{"verify"}, args...)...)
	cmd.Env = append(os.Environ(), "SYSTEMD_LOG_COLOR=0")
	out, err = cmd.CombinedOutput()
	if err != nil || len(bytes.TrimSpace(out)) > 0 {
		t.Errorf("systemd-analyze verify: %v\n%s", err, out)
	}
}
