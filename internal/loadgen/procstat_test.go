package loadgen

import (
	"encoding/binary"
	"os"
	"runtime"
	"testing"
)

func TestParseStatTicks(t *testing.T) {
	// A command name with spaces and parentheses: fields are counted after the last ')'.
	line := "4242 (node (x) y) S 1 4242 4242 0 -1 4194560 1000 0 0 0 731 269 0 0 20 0 11 0 123 1 2 3\n"
	u, s, err := parseStatTicks([]byte(line))
	if err != nil || u != 731 || s != 269 {
		t.Errorf("parseStatTicks = %d, %d, %v; want 731, 269", u, s, err)
	}
	for _, bad := range []string{"", "4242 node S 1", "4242 (x) S 1 2 3", "1 (x) S 1 1 1 0 -1 0 0 0 0 0 u s"} {
		if _, _, err := parseStatTicks([]byte(bad)); err == nil {
			t.Errorf("parseStatTicks(%q): no error", bad)
		}
	}
}

func TestParseStatusRSS(t *testing.T) {
	got, err := parseStatusRSS([]byte("Name:\tnode\nVmHWM:\t  9000 kB\nVmRSS:\t   81234 kB\nRssAnon:\t 1 kB\n"))
	if err != nil || got != 81234 {
		t.Errorf("parseStatusRSS = %d, %v; want 81234", got, err)
	}
	for _, bad := range []string{"Name:\tkthreadd\n", "VmRSS:\t12 MB\n", "VmRSS:\tx kB\n"} {
		if _, err := parseStatusRSS([]byte(bad)); err == nil {
			t.Errorf("parseStatusRSS(%q): no error", bad)
		}
	}
}

func TestAuxvClockTicks(t *testing.T) {
	auxv := func(pairs ...uint64) []byte {
		var b []byte
		for _, v := range pairs {
			b = binary.NativeEndian.AppendUint64(b, v)
		}
		return b
	}
	if got := auxvClockTicks(auxv(6, 4096, 17, 250, 0, 0), 100); got != 250 {
		t.Errorf("AT_CLKTCK 250: got %d", got)
	}
	if got := auxvClockTicks(auxv(6, 4096, 0, 0, 17, 250), 100); got != 100 {
		t.Errorf("AT_CLKTCK after AT_NULL: got %d, want the default", got)
	}
	if got := auxvClockTicks(nil, 100); got != 100 {
		t.Errorf("empty auxv: got %d", got)
	}
	// This process: what sysconf(_SC_CLK_TCK) gives on Linux.
	if got := clockTicks(); got != 100 && got != 250 && got != 1000 {
		t.Errorf("clockTicks() = %d", got)
	}
}

// TestSampleProcs reads this process: its CPU time only grows, its RSS is not zero.
func TestSampleProcs(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("-pid reads /proc: Linux only")
	}
	pid := os.Getpid()
	a, err := sampleProcs([]int{pid})
	if err != nil {
		t.Fatal(err)
	}
	x := 0
	for i := range 50_000_000 { // burn > 1 clock tick
		x ^= i * i
	}
	_ = x
	b, err := sampleProcs([]int{pid, pid})
	if err != nil {
		t.Fatal(err)
	}
	if a.rssKiB <= 0 || a.cpuMicros < 0 || b.cpuMicros <= 0 || b.cpuMicros < 2*a.cpuMicros || b.rssKiB <= a.rssKiB ||
		a.sysMicros < 0 || a.sysMicros > a.cpuMicros || b.sysMicros > b.cpuMicros {
		t.Errorf("samples %+v then (pid twice) %+v", a, b)
	}
	if _, err := sampleProcs([]int{pid, 1 << 30}); err == nil {
		t.Error("a pid that does not exist: no error")
	}
}
