package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
)

// Parsers for what the bench reads from the operating system and from
// Redis: /proc files and INFO replies. They are plain functions over text
// so that they can be tested (and fuzzed) on any machine.

// clockTicks is USER_HZ, the unit of CPU times in /proc: 100 on Linux
// for every architecture Go supports.
const clockTicks = 100

// errNoField is returned when a field is absent from /proc text or an INFO
// reply.
var errNoField = errors.New("field not found")

// procStatusBytes returns a "Key:   123 kB" field of /proc/<pid>/status
// (VmHWM, VmRSS) in bytes.
func procStatusBytes(status, key string) (int64, error) {
	sc := bufio.NewScanner(strings.NewReader(status))
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok || k != key {
			continue
		}
		fields := strings.Fields(v)
		if len(fields) == 0 {
			return 0, fmt.Errorf("%s: no value", key)
		}
		n, err := strconv.ParseInt(fields[0], 10, 64)
		if err != nil || n < 0 {
			return 0, fmt.Errorf("%s: value %q is not a size", key, fields[0])
		}
		unit := int64(1)
		if len(fields) > 1 {
			switch strings.ToLower(fields[1]) {
			case "kb":
				unit = 1 << 10
			case "mb":
				unit = 1 << 20
			default:
				return 0, fmt.Errorf("%s: unknown unit %q", key, fields[1])
			}
		}
		if n > (1<<62)/unit {
			return 0, fmt.Errorf("%s: value %d %s is out of range", key, n, fields[1])
		}
		return n * unit, nil
	}
	return 0, fmt.Errorf("%s: %w", key, errNoField)
}

// procStatCPU parses /proc/<pid>/stat and returns the process's command
// name and its user plus system CPU time in clock ticks. The name is in
// parentheses and may itself hold spaces and parentheses, so the fields
// are counted from the last ")".
func procStatCPU(stat string) (comm string, ticks int64, err error) {
	open := strings.IndexByte(stat, '(')
	end := strings.LastIndexByte(stat, ')')
	if open < 0 || end < open {
		return "", 0, errors.New("stat: no command name")
	}
	comm = stat[open+1 : end]
	// After ")": state(3) ppid(4) ... utime(14) stime(15), so utime is the
	// 12th field after the name and stime the 13th.
	f := strings.Fields(stat[end+1:])
	if len(f) < 13 {
		return comm, 0, fmt.Errorf("stat: %d fields after the name, want at least 13", len(f))
	}
	utime, err1 := strconv.ParseInt(f[11], 10, 64)
	stime, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil || utime < 0 || stime < 0 || utime > 1<<60 || stime > 1<<60 {
		return comm, 0, fmt.Errorf("stat: utime %q or stime %q is not a tick count", f[11], f[12])
	}
	return comm, utime + stime, nil
}

// cpuTimes is the machine-wide line "cpu ..." of /proc/stat, in ticks.
type cpuTimes struct {
	total, idle int64 // idle includes iowait
}

// busy returns the share of CPU time that was not idle between t and a
// later reading u, from 0 to 1, counting every CPU of the machine.
func (t cpuTimes) busy(u cpuTimes) float64 {
	total := u.total - t.total
	if total <= 0 {
		return 0
	}
	return float64(total-(u.idle-t.idle)) / float64(total)
}

// procStatMachine parses the first line of /proc/stat.
func procStatMachine(stat string) (cpuTimes, error) {
	line, _, _ := strings.Cut(stat, "\n")
	f := strings.Fields(line)
	if len(f) < 5 || len(f) > 32 || f[0] != "cpu" {
		return cpuTimes{}, errors.New("/proc/stat: no cpu line")
	}
	var t cpuTimes
	for i, s := range f[1:] {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil || n < 0 || n > 1<<56 {
			return cpuTimes{}, fmt.Errorf("/proc/stat: cpu field %d %q is not a tick count", i+1, s)
		}
		t.total += n
		if i == 3 || i == 4 { // idle, iowait
			t.idle += n
		}
	}
	return t, nil
}

// infoValue returns field's value in a Redis INFO reply ("field:value"
// lines, CRLF-terminated, with "# Section" headers).
func infoValue(info, field string) (string, error) {
	for _, line := range strings.Split(info, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimRight(line, "\r"), field+":"); ok {
			return v, nil
		}
	}
	return "", fmt.Errorf("INFO %s: %w", field, errNoField)
}

// infoInt returns an integer INFO field (used_memory).
func infoInt(info, field string) (int64, error) {
	v, err := infoValue(info, field)
	if err != nil {
		return 0, err
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("INFO %s: %q is not a whole number", field, v)
	}
	return n, nil
}

// infoSeconds returns a seconds INFO field (used_cpu_user: "12.345678").
func infoSeconds(info, field string) (float64, error) {
	v, err := infoValue(info, field)
	if err != nil {
		return 0, err
	}
	f, err := strconv.ParseFloat(v, 64)
	if err != nil || !(f >= 0) || math.IsInf(f, 0) {
		return 0, fmt.Errorf("INFO %s: %q is not a number of seconds", field, v)
	}
	return f, nil
}

// markerWriter passes everything to w and closes found the first time
// marker appears in the stream, even split across writes. The bench uses
// it on a worker's log to learn that the worker is serving.
type markerWriter struct {
	w      io.Writer
	marker []byte
	found  chan struct{}
	tail   []byte // the last len(marker)-1 bytes seen, while not found
	done   bool
}

func newMarkerWriter(w io.Writer, marker string) *markerWriter {
	return &markerWriter{w: w, marker: []byte(marker), found: make(chan struct{})}
}

// Write is called from one goroutine (os/exec's copier).
func (m *markerWriter) Write(p []byte) (int, error) {
	if !m.done {
		buf := append(m.tail, p...)
		if bytes.Contains(buf, m.marker) {
			m.done = true
			m.tail = nil
			close(m.found)
		} else {
			keep := min(len(buf), len(m.marker)-1)
			m.tail = append(m.tail[:0:0], buf[len(buf)-keep:]...)
		}
	}
	return m.w.Write(p)
}

// lineWriter sends each complete line written to it to lines; it is how
// the bench reads the sink's announcements. Lines beyond the channel's
// room are dropped: the sink prints two.
type lineWriter struct {
	lines chan string
	part  []byte
}

func (l *lineWriter) Write(p []byte) (int, error) {
	l.part = append(l.part, p...)
	for {
		i := bytes.IndexByte(l.part, '\n')
		if i < 0 {
			break
		}
		select {
		case l.lines <- string(l.part[:i]):
		default:
		}
		l.part = l.part[i+1:]
	}
	if len(l.part) > 1<<20 { // no newline in a megabyte: not our sink
		l.part = l.part[:0]
	}
	return len(p), nil
}
