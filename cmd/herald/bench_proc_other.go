//go:build !linux

package main

import (
	"errors"
	"os"
	"os/exec"
	"time"
)

// Elsewhere than Linux the bench measures throughput and latency but not
// memory or CPU: these report errors.ErrUnsupported or zeros.

func selfPeakRSS() (int64, error)           { return 0, errors.ErrUnsupported }
func resetPeakRSS() error                   { return errors.ErrUnsupported }
func selfCPU() (time.Duration, error)       { return 0, errors.ErrUnsupported }
func machineCPU() (cpuTimes, error)         { return cpuTimes{}, errors.ErrUnsupported }
func commCPU(string) (time.Duration, error) { return 0, errors.ErrUnsupported }
func pidCPU(int) (time.Duration, error)     { return 0, errors.ErrUnsupported }
func setParentDeathSignal(*exec.Cmd)        {}
func procPeakRSS(int) (int64, error)        { return 0, errors.ErrUnsupported }

func childUsage(ps *os.ProcessState) (int64, time.Duration) {
	if ps == nil {
		return 0, 0
	}
	return 0, ps.UserTime() + ps.SystemTime()
}
