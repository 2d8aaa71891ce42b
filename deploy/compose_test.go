package deploy

import (
	"context"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/types"
)

// secretFiles are the files deploy/secrets must hold; secrets/README.md
// tells the operator to create each one.
var secretFiles = []string{"smtp-password", "twilio-auth-token", "verp-key", "imap-password"}

// loadCompose loads docker-compose.yml as `docker compose` would after the
// README's steps (cp .env.example .env, create secrets/*), in a copy of the
// deploy folder, with the compose specification's loader: schema
// validation, interpolation, merge keys and path resolution included.
func loadCompose(t *testing.T, env string) (*types.Project, error) {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "docker-compose.yml"), readFile(t, "docker-compose.yml"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, ".env"), []byte(env), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(dir, "secrets"), 0o700); err != nil {
		t.Fatal(err)
	}
	for _, f := range secretFiles {
		if err := os.WriteFile(filepath.Join(dir, "secrets", f), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	opts, err := cli.NewProjectOptions([]string{filepath.Join(dir, "docker-compose.yml")},
		cli.WithWorkingDirectory(dir), cli.WithEnvFiles(), cli.WithDotEnv, cli.WithProfiles([]string{"tools"}))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	p, err := cli.ProjectFromOptions(ctx, opts)
	if err != nil {
		return nil, err
	}
	// Secrets must be the files the README has the operator create.
	for name, s := range p.Secrets {
		if rel, err := filepath.Rel(filepath.Join(dir, "secrets"), s.File); err != nil || strings.Contains(rel, string(filepath.Separator)) || !slices.Contains(secretFiles, rel) {
			t.Errorf("secret %s reads %s, not one of secrets/%v", name, s.File, secretFiles)
		}
	}
	return p, nil
}

func TestComposeNeedsPassword(t *testing.T) {
	env := strings.ReplaceAll(string(readFile(t, ".env.example")), "POSTGRES_PASSWORD=", "# POSTGRES_PASSWORD=")
	_, err := loadCompose(t, env)
	if err == nil || !strings.Contains(err.Error(), "set POSTGRES_PASSWORD") {
		t.Errorf("without POSTGRES_PASSWORD: error %v, want one that says to set it", err)
	}
}

func TestCompose(t *testing.T) {
	example := readFile(t, ".env.example")
	p, err := loadCompose(t, string(example))
	if err != nil {
		t.Fatalf("docker compose config: %v", err)
	}
	checkVariables(t, ".env.example", keys(readEnvFile(t, ".env.example")))

	want := []string{"bounce-receiver", "postgres", "reconcile", "redis", "serve", "worker"}
	if got := keys(p.Services); !slices.Equal(got, want) {
		t.Fatalf("services %v, want %v", got, want)
	}

	redis := p.Services["redis"]
	if !strings.HasPrefix(redis.Image, "redis:7") {
		t.Errorf("redis image %s, want Redis 7 (herald needs >= 6.2)", redis.Image)
	}
	if i := slices.Index(redis.Command, "--appendonly"); i < 0 || i+1 >= len(redis.Command) || redis.Command[i+1] != "yes" {
		t.Errorf("redis command %v: want AOF persistence (--appendonly yes)", redis.Command)
	}
	checkNamedVolume(t, p, "redis", "/data")
	pg := p.Services["postgres"]
	if !strings.HasPrefix(pg.Image, "postgres:16") {
		t.Errorf("postgres image %s, want PostgreSQL 16", pg.Image)
	}
	checkNamedVolume(t, p, "postgres", "/var/lib/postgresql/data")
	for _, name := range []string{"redis", "postgres"} {
		if hc := p.Services[name].HealthCheck; hc == nil || len(hc.Test) < 2 {
			t.Errorf("%s has no healthcheck: depends_on service_healthy would wait forever", name)
		}
	}

	herald := []struct {
		service, subcommand string
		port                uint32 // container port published, 0 = none
	}{
		{"serve", "serve", 8080},
		{"worker", "worker", 0},
		{"bounce-receiver", "bounce-receiver", 2525},
		{"reconcile", "reconcile", 0},
	}
	image := p.Services["serve"].Image
	for _, h := range herald {
		t.Run(h.service, func(t *testing.T) {
			s := p.Services[h.service]
			checkSubcommand(t, h.service, s.Command, h.subcommand)
			if s.Image != image || s.Build == nil || s.Build.Dockerfile != "deploy/Dockerfile" {
				t.Errorf("image %s build %+v: want the herald image built from deploy/Dockerfile", s.Image, s.Build)
			} else if _, err := os.Stat(filepath.Join("..", s.Build.Dockerfile)); err != nil {
				t.Errorf("build: %v", err)
			}
			for _, dep := range []string{"postgres", "redis"} {
				if d, ok := s.DependsOn[dep]; !ok || d.Condition != types.ServiceConditionHealthy {
					t.Errorf("depends_on %s: %+v, want condition service_healthy", dep, d)
				}
			}
			if !s.ReadOnly || !slices.Contains(s.CapDrop, "ALL") || !slices.Contains(s.SecurityOpt, "no-new-privileges:true") {
				t.Errorf("read_only %v cap_drop %v security_opt %v: want read-only, no capabilities, no new privileges", s.ReadOnly, s.CapDrop, s.SecurityOpt)
			}
			env := map[string]string{}
			for k, v := range s.Environment {
				if v != nil {
					env[k] = *v
				}
			}
			checkVariables(t, h.service, keys(env))
			// Every *_FILE setting names a secret this service mounts.
			for k, v := range env {
				if !strings.HasSuffix(k, "_FILE") {
					continue
				}
				if !slices.ContainsFunc(s.Secrets, func(sc types.ServiceSecretConfig) bool { return secretPath(sc) == v }) {
					t.Errorf("%s=%s is not a secret mounted in the service", k, v)
				}
			}
			// The ledger and Redis are the compose services.
			for k, service := range map[string]string{"HERALD_DATABASE_URL": "postgres", "HERALD_REDIS_URL": "redis"} {
				u, err := url.Parse(env[k])
				if err != nil || u.Hostname() != service {
					t.Errorf("%s=%q, want a URL to the %s service", k, env[k], service)
				}
			}
			if u, _ := url.Parse(env["HERALD_DATABASE_URL"]); u != nil {
				if pw, _ := u.User.Password(); pw != "change-me" {
					t.Errorf("HERALD_DATABASE_URL password %q, want POSTGRES_PASSWORD from .env", pw)
				}
			}
			var published []uint32
			for _, port := range s.Ports {
				published = append(published, port.Target)
			}
			if h.port == 0 && len(published) > 0 || h.port != 0 && !slices.Equal(published, []uint32{h.port}) {
				t.Errorf("publishes container ports %v, want %d", published, h.port)
			}
		})
	}

	worker := p.Services["worker"]
	if worker.Deploy == nil || worker.Deploy.Replicas == nil || *worker.Deploy.Replicas != 3 {
		t.Errorf("worker deploy %+v, want replicas: 3", worker.Deploy)
	}
	if g := worker.StopGracePeriod; g == nil || time.Duration(*g) < 30*time.Second {
		t.Errorf("worker stop_grace_period %v: running sends need at least 30 s", g)
	}
	serve := p.Services["serve"]
	if len(serve.Ports) == 1 && serve.Ports[0].HostIP != "127.0.0.1" {
		t.Errorf("serve published on %q by default, want loopback (plain HTTP)", serve.Ports[0].HostIP)
	}
	bounce := p.Services["bounce-receiver"]
	listen := bounce.Environment["HERALD_BOUNCE_LISTEN"]
	if listen == nil || *listen != ":2525" {
		t.Errorf("bounce-receiver HERALD_BOUNCE_LISTEN %v, want :2525 (its published container port)", listen)
	}
	if len(bounce.Ports) == 1 && bounce.Ports[0].Published != "2525" {
		t.Errorf("bounce-receiver published on host port %s, want 2525 by default", bounce.Ports[0].Published)
	}
	if dir := bounce.Environment["HERALD_BOUNCE_UNMATCHED_DIR"]; dir == nil || !slices.ContainsFunc(bounce.Volumes, func(v types.ServiceVolumeConfig) bool { return v.Target == *dir }) {
		t.Errorf("HERALD_BOUNCE_UNMATCHED_DIR %v is not a volume (the container is read-only)", dir)
	}
	if r := p.Services["reconcile"]; !slices.Equal(r.Profiles, []string{"tools"}) || r.Restart != "no" {
		t.Errorf("reconcile profiles %v restart %q: want a one-shot outside the default profile", r.Profiles, r.Restart)
	}

	// secrets/README.md tells how to create every secret file.
	readme := string(readFile(t, "secrets/README.md"))
	for _, f := range secretFiles {
		if !strings.Contains(readme, "secrets/"+f) {
			t.Errorf("secrets/README.md does not say how to create secrets/%s", f)
		}
	}
}

func checkNamedVolume(t *testing.T, p *types.Project, service, target string) {
	t.Helper()
	for _, v := range p.Services[service].Volumes {
		if v.Target == target {
			if v.Type != types.VolumeTypeVolume {
				t.Errorf("%s: %s is a %s, want a named volume", service, target, v.Type)
			} else if _, ok := p.Volumes[v.Source]; !ok {
				t.Errorf("%s: volume %s is not declared", service, v.Source)
			}
			return
		}
	}
	t.Errorf("%s: no volume at %s: its data would go with the container", service, target)
}

// secretPath is where a service's secret is mounted: Target when absolute,
// else under /run/secrets.
func secretPath(sc types.ServiceSecretConfig) string {
	switch {
	case strings.HasPrefix(sc.Target, "/"):
		return sc.Target
	case sc.Target != "":
		return "/run/secrets/" + sc.Target
	}
	return "/run/secrets/" + sc.Source
}
