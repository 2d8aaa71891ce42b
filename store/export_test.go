package store

// WithoutCopy exposes withoutCopy to the external tests and benchmarks.
var WithoutCopy = withoutCopy
