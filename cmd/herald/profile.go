package main

import (
	"fmt"
	"log/slog"
	"os"
	"runtime/pprof"
)

// cpuProfileEnv names the file a `herald worker` writes its CPU profile to
// while it runs. `herald bench --cpuprofile DIR` sets it for the worker
// processes it starts, so that every process of a benchmark leaves a
// profile behind; an operator can set it too, to see where a slow worker
// spends its time.
const cpuProfileEnv = "HERALD_CPUPROFILE"

// startCPUProfile starts writing a CPU profile to path and returns the
// function that stops it and closes the file. An empty path does nothing.
// Stopping can only fail to flush the file; that is logged, not returned,
// since by then the command's own result is what matters.
func startCPUProfile(path string, log *slog.Logger) (stop func(), err error) {
	if path == "" {
		return func() {}, nil
	}
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("create CPU profile: %w", err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("start CPU profile %s: %w", path, err)
	}
	return func() {
		pprof.StopCPUProfile()
		if err := f.Close(); err != nil && log != nil {
			log.Warn("CPU profile not written completely", "path", path, "err", err)
		}
	}, nil
}
