package loadgen

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// ServerStats is what the tool read from /proc about the server's processes (Config.PIDs) over the
// measured window: CPU time between the end of the connect phase and the end of the drain (Fanout,
// ManyRooms) or of the hold (Idle), and resident memory before the first connect and at the end of
// that window. It is embedded in [Result], so its fields sit at the top level of the JSON form; it is nil
// when no PIDs were given.
type ServerStats struct {
	PIDs      []int   `json:"server_pids"`
	WindowSec float64 `json:"server_window_sec"`
	// CPUMicros is the processes' user + system CPU time over the window, in µs (clock ticks of 1/USER_HZ,
	// 10 ms on Linux, so exact to that).
	CPUMicros int64 `json:"server_cpu_us"`
	// CPUPct is CPUMicros over the window's wall time: 100 is one core.
	CPUPct float64 `json:"server_cpu_pct"`
	// CPUMicrosPerDelivery is CPUMicros / Messages.Deliveries (0 without deliveries).
	CPUMicrosPerDelivery float64 `json:"server_cpu_us_per_delivery"`
	// SysMicros is the system (kernel) part of CPUMicros: the time the processes spent in system calls
	// and the kernel work charged to them (on loopback, a send also runs the receiving side's TCP
	// processing and wake-up). SysMicrosPerDelivery is SysMicros / Messages.Deliveries.
	SysMicros            int64   `json:"server_sys_us"`
	SysMicrosPerDelivery float64 `json:"server_sys_us_per_delivery"`
	// ClientCPUMicros is this tool's own CPU time (user + system) over the same window, and
	// ClientCPUMicrosPerDelivery that over Messages.Deliveries: on a machine the server shares with the
	// load generator, the two together bound how soon the last member of a fan-out can have its message.
	ClientCPUMicros            int64   `json:"client_cpu_us"`
	ClientCPUMicrosPerDelivery float64 `json:"client_cpu_us_per_delivery"`
	// RSSKiBBefore and RSSKiBAfter are the processes' VmRSS summed, before the first connect and at the
	// end of the window (every connection still open).
	RSSKiBBefore int64 `json:"server_rss_kib_before"`
	RSSKiBAfter  int64 `json:"server_rss_kib_after"`
	// RSSKiBPerConn is (RSSKiBAfter − RSSKiBBefore) / Connections.Connected, Idle only (0 otherwise): what
	// the server holds per open connection, allocator and GC slack included, so it is meaningful only on a
	// freshly started server.
	RSSKiBPerConn float64 `json:"server_rss_kib_per_conn"`
	// Error says why a sample failed (a process that exited during the run); the figures are then 0.
	Error string `json:"server_error,omitempty"`
}

// procSample is the processes' summed CPU time (user + system, and system alone, µs) and VmRSS (KiB) at
// one instant.
type procSample struct {
	cpuMicros int64
	sysMicros int64
	rssKiB    int64
}

// sampleProcs reads /proc/PID/stat (utime, stime) and /proc/PID/status (VmRSS) of every pid.
func sampleProcs(pids []int) (procSample, error) {
	var s procSample
	for _, pid := range pids {
		utime, stime, err := procCPUTicks(pid)
		if err != nil {
			return procSample{}, err
		}
		rss, err := procRSSKiB(pid)
		if err != nil {
			return procSample{}, err
		}
		s.cpuMicros += (utime + stime) * 1_000_000 / clockTicks()
		s.sysMicros += stime * 1_000_000 / clockTicks()
		s.rssKiB += rss
	}
	return s, nil
}

// procCPUTicks returns utime and stime of pid, in clock ticks.
func procCPUTicks(pid int) (utime, stime int64, err error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, 0, fmt.Errorf("server pid %d: %w", pid, err)
	}
	return parseStatTicks(b)
}

// parseStatTicks reads utime and stime (fields 14 and 15) of a /proc/PID/stat line. The command name
// (field 2) is in parentheses and may hold spaces or parentheses, so fields are counted after the last ')'.
func parseStatTicks(b []byte) (utime, stime int64, err error) {
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, 0, fmt.Errorf("malformed /proc stat %q", b)
	}
	f := strings.Fields(string(b[i+1:])) // f[0] is field 3 (state)
	if len(f) < 13 {
		return 0, 0, fmt.Errorf("malformed /proc stat %q", b)
	}
	utime, err1 := strconv.ParseInt(f[11], 10, 64)
	stime, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, 0, fmt.Errorf("malformed /proc stat utime %q stime %q", f[11], f[12])
	}
	return utime, stime, nil
}

// procRSSKiB returns VmRSS of pid in KiB.
func procRSSKiB(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, fmt.Errorf("server pid %d: %w", pid, err)
	}
	return parseStatusRSS(b)
}

// parseStatusRSS finds "VmRSS:  1234 kB" in a /proc/PID/status.
func parseStatusRSS(b []byte) (int64, error) {
	for line := range strings.SplitSeq(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			f := strings.Fields(rest)
			if len(f) != 2 || f[1] != "kB" {
				return 0, fmt.Errorf("malformed VmRSS line %q", line)
			}
			return strconv.ParseInt(f[0], 10, 64)
		}
	}
	return 0, fmt.Errorf("no VmRSS in /proc status (a zombie or kernel thread?)")
}

// clockTicks is USER_HZ, the unit of utime and stime: AT_CLKTCK of the auxiliary vector (what
// sysconf(_SC_CLK_TCK) returns), 100 when it cannot be read (its value on every Linux port in use).
var clockTicks = sync.OnceValue(func() int64 {
	b, err := os.ReadFile("/proc/self/auxv")
	if err != nil || strconv.IntSize != 64 {
		return 100
	}
	return auxvClockTicks(b, 100)
})

// auxvClockTicks finds AT_CLKTCK (17) in a native-endian 64-bit auxiliary vector.
func auxvClockTicks(b []byte, def int64) int64 {
	const atClkTck = 17
	for ; len(b) >= 16; b = b[16:] {
		key, val := binary.NativeEndian.Uint64(b), binary.NativeEndian.Uint64(b[8:])
		if key == 0 {
			break
		}
		if key == atClkTck && val > 0 {
			return int64(val)
		}
	}
	return def
}

// serverSampler takes the samples of one run. Its methods do nothing on a nil sampler (no PIDs).
type serverSampler struct {
	stats        ServerStats
	before, from procSample
	self         procSample // this process at the window's start
	start        time.Time
}

// newServerSampler reads the memory before the first connect.
func newServerSampler(pids []int) *serverSampler {
	s := &serverSampler{stats: ServerStats{PIDs: slices.Clone(pids)}}
	var err error
	if s.before, err = sampleProcs(pids); err != nil {
		s.stats.Error = err.Error()
	}
	return s
}

// windowStart opens the measured window: every connection is open (and joined).
func (s *serverSampler) windowStart() {
	if s == nil || s.stats.Error != "" {
		return
	}
	var err error
	if s.from, err = sampleProcs(s.stats.PIDs); err != nil {
		s.stats.Error = err.Error()
	}
	if s.self, err = sampleProcs([]int{os.Getpid()}); err != nil {
		s.stats.Error = err.Error()
	}
	s.start = time.Now()
}

// windowEnd closes it: the drain or the hold is over, every connection still open.
func (s *serverSampler) windowEnd() {
	if s == nil || s.stats.Error != "" {
		return
	}
	wall := time.Since(s.start)
	to, err := sampleProcs(s.stats.PIDs)
	if err != nil {
		s.stats.Error = err.Error()
		return
	}
	self, err := sampleProcs([]int{os.Getpid()})
	if err != nil {
		s.stats.Error = err.Error()
		return
	}
	s.stats.ClientCPUMicros = self.cpuMicros - s.self.cpuMicros
	s.stats.WindowSec = round3(wall.Seconds())
	s.stats.CPUMicros = to.cpuMicros - s.from.cpuMicros
	s.stats.SysMicros = to.sysMicros - s.from.sysMicros
	if wall > 0 {
		s.stats.CPUPct = round3(float64(s.stats.CPUMicros) / float64(wall.Microseconds()) * 100)
	}
	s.stats.RSSKiBBefore, s.stats.RSSKiBAfter = s.before.rssKiB, to.rssKiB
}

// fill derives the per-delivery and per-connection figures from res's counters.
func (s *serverSampler) fill(res *Result) {
	if s == nil || s.stats.Error != "" {
		return
	}
	if d := res.Messages.Deliveries; d > 0 {
		s.stats.CPUMicrosPerDelivery = round3(float64(s.stats.CPUMicros) / float64(d))
		s.stats.SysMicrosPerDelivery = round3(float64(s.stats.SysMicros) / float64(d))
		s.stats.ClientCPUMicrosPerDelivery = round3(float64(s.stats.ClientCPUMicros) / float64(d))
	}
	if c := res.Connections.Connected; res.Scenario == Idle && c > 0 {
		s.stats.RSSKiBPerConn = round3(float64(s.stats.RSSKiBAfter-s.stats.RSSKiBBefore) / float64(c))
	}
}
