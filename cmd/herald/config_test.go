package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestLoadConfig(t *testing.T) {
	dir := t.TempDir()
	secretFile := filepath.Join(dir, "pw")
	if err := os.WriteFile(secretFile, []byte("s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := loadConfig(env{
		"HERALD_SMTP_PASSWORD_FILE": secretFile,
		"HERALD_SMTP_PORT":          "2525",
		"HERALD_STALE_AFTER":        "90s",
		"HERALD_DATABASE_URL":       "postgres://herald:dbpass@db/herald",
	}.get)
	if err != nil {
		t.Fatal(err)
	}
	if c.SMTPPassword != "s3cret" || c.SMTPPort != 2525 || c.StaleAfter != 90*time.Second || c.MaxRetry != 8 {
		t.Errorf("config %+v", c)
	}
	var printed strings.Builder
	for _, kv := range c.Redacted() {
		printed.WriteString(kv[0] + "=" + kv[1] + "\n")
	}
	if strings.Contains(printed.String(), "s3cret") || strings.Contains(printed.String(), "dbpass") {
		t.Errorf("secrets printed:\n%s", printed.String())
	}

	bad := []struct {
		env  env
		want string
	}{
		{env{"HERALD_SMTP_PASSWORD": "a", "HERALD_SMTP_PASSWORD_FILE": secretFile}, "keep one"},
		{env{"HERALD_SMTP_PORT": "x"}, "whole number"},
		{env{"HERALD_STALE_AFTER": "soon"}, "duration"},
		{env{"HERALD_TWILIO_AUTH_TOKEN_FILE": filepath.Join(dir, "missing")}, "HERALD_TWILIO_AUTH_TOKEN_FILE"},
	}
	for _, b := range bad {
		if _, err := loadConfig(b.env.get); err == nil || !strings.Contains(err.Error(), b.want) {
			t.Errorf("%v: got %v, want error containing %q", b.env, err, b.want)
		}
	}
}
