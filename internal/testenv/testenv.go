// Package testenv gives tests the real services they run against.
//
// Tests that need Redis or PostgreSQL call RedisURL or DatabaseURL. When the
// variable is unset the test is skipped, so `go test ./...` passes on a
// machine with only Go; CI sets HERALD_TEST_REQUIRE_SERVICES=1 so that a
// missing service fails the run instead of hiding behind a skip.
package testenv

import (
	"os"
	"testing"
)

// Variables read by this package.
const (
	RedisVar    = "HERALD_TEST_REDIS_URL"
	DatabaseVar = "HERALD_TEST_DATABASE_URL"
	RequireVar  = "HERALD_TEST_REQUIRE_SERVICES"
)

// RedisURL returns the test Redis URL (redis://host:port/db) or skips.
func RedisURL(t testing.TB) string {
	t.Helper()
	return lookup(t, RedisVar)
}

// DatabaseURL returns the test PostgreSQL URL or skips.
func DatabaseURL(t testing.TB) string {
	t.Helper()
	return lookup(t, DatabaseVar)
}

// Required reports whether missing services must fail tests.
func Required() bool { return os.Getenv(RequireVar) == "1" }

func lookup(t testing.TB, name string) string {
	t.Helper()
	v := os.Getenv(name)
	if v == "" {
		if Required() {
			t.Fatalf("%s is not set but %s=1: start the service and export it", name, RequireVar)
		}
		t.Skipf("%s not set; skipping test against the real service", name)
	}
	return v
}
