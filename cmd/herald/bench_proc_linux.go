//go:build linux

package main

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"
)

// selfPeakRSS returns this process's peak resident set size (VmHWM) in
// bytes.
func selfPeakRSS() (int64, error) {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0, fmt.Errorf("read own status: %w", err)
	}
	return procStatusBytes(string(b), "VmHWM")
}

// resetPeakRSS sets VmHWM back to the current resident size (Linux 4.0
// and later), so that the next selfPeakRSS measures one phase alone.
func resetPeakRSS() error {
	if err := os.WriteFile("/proc/self/clear_refs", []byte("5"), 0); err != nil {
		return fmt.Errorf("reset peak RSS: %w", err)
	}
	return nil
}

// selfCPU returns the user plus system CPU time this process has used.
func selfCPU() (time.Duration, error) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0, fmt.Errorf("getrusage: %w", err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()), nil
}

// childUsage returns the peak resident size in bytes and the CPU time of
// a child that has exited, from the rusage its wait returned.
func childUsage(ps *os.ProcessState) (peakRSS int64, cpu time.Duration) {
	if ps == nil {
		return 0, 0
	}
	if ru, ok := ps.SysUsage().(*syscall.Rusage); ok {
		peakRSS = ru.Maxrss << 10 // kilobytes on Linux
	}
	return peakRSS, ps.UserTime() + ps.SystemTime()
}

// machineCPU reads the machine-wide CPU times.
func machineCPU() (cpuTimes, error) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return cpuTimes{}, fmt.Errorf("read /proc/stat: %w", err)
	}
	return procStatMachine(string(b))
}

// commCPU sums the CPU time used so far by every process whose command
// name is comm ("postgres": the server and all its backends). Processes
// that exit between two readings take their time with them, so a
// difference of two readings is a lower bound.
func commCPU(comm string) (time.Duration, error) {
	paths, err := filepath.Glob("/proc/[0-9]*/stat")
	if err != nil {
		return 0, fmt.Errorf("list processes: %w", err)
	}
	var ticks int64
	found := false
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			continue // the process ended meanwhile
		}
		c, t, err := procStatCPU(string(b))
		if err != nil || c != comm {
			continue
		}
		found = true
		ticks += t
	}
	if !found {
		return 0, fmt.Errorf("no process named %s: %w", comm, errors.ErrUnsupported)
	}
	return time.Duration(ticks) * time.Second / clockTicks, nil
}

// setParentDeathSignal has the kernel send the child SIGTERM if the bench
// dies without stopping it, so no worker or sink outlives a killed bench.
func setParentDeathSignal(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
}

// procPeakRSS returns a running process's peak resident set size (VmHWM)
// in bytes.
func procPeakRSS(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, fmt.Errorf("read status of process %d: %w", pid, err)
	}
	return procStatusBytes(string(b), "VmHWM")
}

// pidCPU returns the CPU time process pid has used so far.
func pidCPU(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, fmt.Errorf("read stat of process %d: %w", pid, err)
	}
	_, t, err := procStatCPU(string(b))
	if err != nil {
		return 0, err
	}
	return time.Duration(t) * time.Second / clockTicks, nil
}
