package store

// WithoutCopy exposes withoutCopy to the external tests and benchmarks.
var WithoutCopy = withoutCopy

// MigrationCount is how many migrations the SQLite dialect has.
func MigrationCount() int {
	ms, err := migrations("sqlite")
	if err != nil {
		panic(err)
	}
	return len(ms)
}
