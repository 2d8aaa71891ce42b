package main

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"
)

func TestProcStatusBytes(t *testing.T) {
	status := "Name:\therald\nVmPeak:\t  812345 kB\nVmHWM:\t   40960 kB\nVmRSS:\t   10240 kB\nThreads:\t9\n"
	tests := []struct {
		text, key string
		want      int64
		err       bool
	}{
		{status, "VmHWM", 40960 << 10, false},
		{status, "VmRSS", 10240 << 10, false},
		{status, "Threads", 9, false},
		{status, "VmSwap", 0, true},
		{"VmHWM:\tlots kB\n", "VmHWM", 0, true},
		{"VmHWM:\t12 GB\n", "VmHWM", 0, true},
		{"VmHWM:\t99999999999999999 kB\n", "VmHWM", 0, true},
		{"MemTotal:       24684132 kB\n", "MemTotal", 24684132 << 10, false},
	}
	for _, tt := range tests {
		got, err := procStatusBytes(tt.text, tt.key)
		if (err != nil) != tt.err || got != tt.want {
			t.Errorf("procStatusBytes(%q, %s) = %d, %v; want %d, error %v", tt.text, tt.key, got, err, tt.want, tt.err)
		}
	}
	if _, err := procStatusBytes(status, "VmSwap"); !errors.Is(err, errNoField) {
		t.Errorf("a missing field gives %v, want errNoField", err)
	}
}

func TestProcStatCPU(t *testing.T) {
	tests := []struct {
		stat, comm string
		ticks      int64
		err        bool
	}{
		{"2201 (postgres) S 2200 2201 2201 0 -1 4194624 3000 0 0 0 57 43 0 0 20 0 1 0 1234 219868160 32873", "postgres", 100, false},
		{"77 (my (odd) name) R 1 77 77 0 -1 0 0 0 0 0 5 6 0 0 20 0 1 0 9 0 0", "my (odd) name", 11, false},
		{"77 (short) R 1 2 3", "short", 0, true},
		{"no name here", "", 0, true},
		{"1 (x) S 0 0 0 0 0 0 0 0 0 0 -5 6 0", "x", 0, true},
	}
	for _, tt := range tests {
		comm, ticks, err := procStatCPU(tt.stat)
		if (err != nil) != tt.err || comm != tt.comm || ticks != tt.ticks {
			t.Errorf("procStatCPU(%q) = %q, %d, %v; want %q, %d, error %v", tt.stat, comm, ticks, err, tt.comm, tt.ticks, tt.err)
		}
	}
}

func TestProcStatMachine(t *testing.T) {
	a, err := procStatMachine("cpu  100 0 100 700 100 0 0 0 0 0\ncpu0 50 0 50 350 50 0 0 0 0 0\n")
	if err != nil {
		t.Fatal(err)
	}
	b, err := procStatMachine("cpu  250 0 150 850 100 0 0 0 0 0\n")
	if err != nil {
		t.Fatal(err)
	}
	// 350 ticks passed, 150 of them idle: 200/350 busy.
	if got := a.busy(b); got < 0.571 || got > 0.572 {
		t.Errorf("busy = %v, want 0.5714", got)
	}
	if got := b.busy(b); got != 0 {
		t.Errorf("busy over no time = %v, want 0", got)
	}
	for _, bad := range []string{"", "intr 1 2 3", "cpu 1 2 x 4 5", "cpu 1 2"} {
		if _, err := procStatMachine(bad); err == nil {
			t.Errorf("procStatMachine(%q) gave no error", bad)
		}
	}
}

func TestInfo(t *testing.T) {
	info := "# Memory\r\nused_memory:1048576\r\nused_memory_human:1.00M\r\n\r\n# CPU\r\nused_cpu_sys:12.500000\r\nused_cpu_user:7.250000\r\n"
	if n, err := infoInt(info, "used_memory"); err != nil || n != 1<<20 {
		t.Errorf("used_memory = %d, %v", n, err)
	}
	if s, err := infoSeconds(info, "used_cpu_sys"); err != nil || s != 12.5 {
		t.Errorf("used_cpu_sys = %v, %v", s, err)
	}
	if _, err := infoInt(info, "used_memory_human"); err == nil {
		t.Error("used_memory_human parsed as a whole number")
	}
	if _, err := infoInt(info, "maxmemory"); !errors.Is(err, errNoField) {
		t.Errorf("missing field: %v, want errNoField", err)
	}
}

// TestMarkerWriter checks the marker is found however the output is cut
// into writes, and that everything reaches the log.
func TestMarkerWriter(t *testing.T) {
	line := `{"time":"…","level":"INFO","msg":"queue worker started","queues":["x"]}` + "\n"
	text := "starting\n" + line + "more\n"
	for cut := 1; cut <= len(text); cut++ {
		var log bytes.Buffer
		m := newMarkerWriter(&log, workerReadyMarker)
		for i := 0; i < len(text); i += cut {
			if _, err := m.Write([]byte(text[i:min(i+cut, len(text))])); err != nil {
				t.Fatal(err)
			}
		}
		select {
		case <-m.found:
		default:
			t.Fatalf("writes of %d bytes: marker not found", cut)
		}
		if log.String() != text {
			t.Fatalf("writes of %d bytes: log %q", cut, log.String())
		}
	}
	m := newMarkerWriter(&bytes.Buffer{}, workerReadyMarker)
	_, _ = m.Write([]byte(strings.Repeat(`"msg":"queue worker stopped"`+"\n", 3)))
	select {
	case <-m.found:
		t.Fatal("marker found in a log without it")
	default:
	}
}

func TestLineWriter(t *testing.T) {
	l := &lineWriter{lines: make(chan string, 2)}
	for _, p := range []string{`{"smtp_`, `addr":"a"}` + "\n" + `{"smtp_messages"`, ":3}\n", "third\n"} {
		_, _ = l.Write([]byte(p))
	}
	if got := <-l.lines; got != `{"smtp_addr":"a"}` {
		t.Errorf("first line %q", got)
	}
	if got := <-l.lines; got != `{"smtp_messages":3}` {
		t.Errorf("second line %q", got)
	}
	select {
	case got := <-l.lines:
		t.Errorf("a line beyond the channel's room was kept: %q", got)
	default:
	}
}

func TestPercentile(t *testing.T) {
	var xs []time.Duration
	for i := 100; i >= 1; i-- {
		xs = append(xs, time.Duration(i)*time.Millisecond)
	}
	if p := percentile(xs, 0.5); p != 50*time.Millisecond {
		t.Errorf("p50 = %v", p)
	}
	if p := percentile(xs, 0.99); p != 99*time.Millisecond {
		t.Errorf("p99 = %v", p)
	}
	if p := percentile(nil, 0.99); p != 0 {
		t.Errorf("p99 of nothing = %v", p)
	}
	if p := percentile([]time.Duration{7}, 0.99); p != 7 {
		t.Errorf("p99 of one = %v", p)
	}
}

func FuzzProcStatusBytes(f *testing.F) {
	f.Add("VmHWM:\t   40960 kB\n", "VmHWM")
	f.Add("VmHWM: 1 mB\nVmHWM: 2 kB", "VmHWM")
	f.Fuzz(func(t *testing.T, text, key string) {
		n, err := procStatusBytes(text, key)
		if err == nil && n < 0 {
			t.Fatalf("negative size %d", n)
		}
	})
}

func FuzzProcStatCPU(f *testing.F) {
	f.Add("2201 (postgres) S 2200 2201 2201 0 -1 4194624 3000 0 0 0 57 43 0 0 20 0 1 0 1234 219868160 32873")
	f.Add("1 ()) ) ) 1 2 3 4 5 6 7 8 9 10 11 12 13")
	f.Fuzz(func(t *testing.T, stat string) {
		_, ticks, err := procStatCPU(stat)
		if err == nil && ticks < 0 {
			t.Fatalf("negative CPU time %d", ticks)
		}
	})
}

func FuzzProcStatMachine(f *testing.F) {
	f.Add("cpu  100 0 100 700 100 0 0 0 0 0\n")
	f.Fuzz(func(t *testing.T, stat string) {
		c, err := procStatMachine(stat)
		if err != nil {
			return
		}
		if c.total < 0 || c.idle < 0 || c.idle > c.total {
			t.Fatalf("%+v from %q", c, stat)
		}
		if b := (cpuTimes{}).busy(c); b < 0 || b > 1 {
			t.Fatalf("busy %v", b)
		}
	})
}

func FuzzInfo(f *testing.F) {
	f.Add("# Memory\r\nused_memory:1048576\r\n", "used_memory")
	f.Fuzz(func(t *testing.T, info, field string) {
		_, _ = infoInt(info, field)
		if s, err := infoSeconds(info, field); err == nil && !(s >= 0) {
			t.Fatalf("seconds %v", s)
		}
	})
}
