package main_test

// Single-node process tests of the binary's secure defaults and its shutdown budget.

import (
	"encoding/json"
	"errors"
	"io"
	"net"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// TestProcessShutdownCutsStalledUpload: a client holds a long-polling POST whose body never finishes
// (and another connection that never finishes its headers); SIGTERM must still end the node within
// -shutdown-timeout, with exit status 0 and a warning that connections were cut.
func TestProcessShutdownCutsStalledUpload(t *testing.T) {
	const budget = 2 * time.Second
	c := newTestCluster(t)
	p := freePorts(t)
	n := c.spawnSingle("stalled", p, "-shutdown-timeout", budget.String())
	if err := n.waitListenLine(); err != nil {
		t.Fatal(err)
	}
	// An Engine.IO long-polling session, then a POST to it that sends 10 of its 100 000 body bytes.
	res, err := c.http.Get("http://" + p.addr + "/socket.io/?EIO=4&transport=polling")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	var open struct{ Sid string }
	if len(b) < 2 || json.Unmarshal(b[1:], &open) != nil || open.Sid == "" {
		t.Fatalf("polling handshake answered %q", b)
	}
	upload := dialRaw(t, p.addr, "POST /socket.io/?EIO=4&transport=polling&sid="+open.Sid+" HTTP/1.1\r\nHost: x\r\n"+
		"Content-Type: text/plain\r\nContent-Length: 100000\r\n\r\n0123456789")
	halfHeader := dialRaw(t, p.addr, "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ")

	start := time.Now()
	select {
	case <-n.terminate(t):
	case <-time.After(budget + 5*time.Second):
		t.Fatalf("the node still runs %v after SIGTERM with a %v budget", time.Since(start), budget)
	}
	took := time.Since(start)
	t.Logf("exited %v after SIGTERM (budget %v): %v", took.Round(time.Millisecond), budget, n.waitErr)
	if n.waitErr != nil {
		t.Errorf("exit: %v, want status 0", n.waitErr)
	}
	// Budget, one second of grace for the engine's actors, and the race runtime's second at exit.
	if took > budget+3*time.Second {
		t.Errorf("exited %v after SIGTERM, want within %v + 3s", took, budget)
	}
	if !strings.Contains(n.log.String(), `msg="shutdown budget spent`) {
		t.Errorf("no warning that the budget was spent:\n%s", n.log.String())
	}
	// Both clients were cut.
	for _, conn := range []net.Conn{upload, halfHeader} {
		conn.SetReadDeadline(time.Now().Add(clusterWait))
		if _, err := io.Copy(io.Discard, conn); isTimeout(err) {
			t.Error("a client's connection is still open after the node exited")
		}
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// dialRaw connects to addr and writes head; the test's cleanup closes the connection.
func dialRaw(t *testing.T, addr, head string) net.Conn {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, clusterWait)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	if _, err := io.WriteString(conn, head); err != nil {
		t.Fatal(err)
	}
	return conn
}

// spawnSingle starts a node process without a cluster: its public listener and its API on p.
func (c *testCluster) spawnSingle(name string, p ports, extra ...string) *procNode {
	return c.spawnArgs(name, p, append([]string{"-addr", p.addr, "-api-addr", p.api, "-app", "chat", "-log-level", "info"}, extra...))
}

// TestProcessClusterKeyRequired: a cluster on a non-loopback address without -cluster-key does not
// start, and says which flag is missing; with -cluster-insecure it starts with a loud warning; on
// loopback without a key it starts with a warning.
func TestProcessClusterKeyRequired(t *testing.T) {
	ip := nonLoopbackIP(t)
	c := newTestCluster(t)

	// Refused: exit status 1 before listening, naming the flag.
	for _, addrs := range [][]string{
		{"-cluster-addr", net.JoinHostPort(ip, "7946")},
		{"-cluster-addr", ":7946"},
		{"-cluster-addr", "127.0.0.1:7946", "-remote-addr", net.JoinHostPort(ip, "7947")},
	} {
		cmd := exec.Command(c.bin, append([]string{"-addr", "127.0.0.1:0", "-api-addr", ""}, addrs...)...)
		cmd.Env = nodeEnv()
		out, err := cmd.CombinedOutput()
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != 1 || !strings.Contains(string(out), "-cluster-key") || strings.Contains(string(out), "listening") {
			t.Errorf("%q: %v\n%s\nwant exit status 1 naming -cluster-key, before listening", addrs, err, out)
		}
	}

	// -cluster-insecure: starts, warns.
	p := freePortsOn(t, ip)
	n := c.spawnArgs("insecure", p, []string{"-addr", p.addr, "-api-addr", p.api, "-cluster-addr", p.gossip, "-remote-addr", p.remote, "-cluster-insecure"})
	if err := n.waitListening(); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(n.log.String(), `level=WARN msg="INSECURE cluster (-cluster-insecure)`) {
		t.Errorf("-cluster-insecure started without the warning:\n%s", n.log.String())
	}

	// Loopback without a key: starts, warns.
	l := c.startNode("loopback", freePorts(t), false, "")
	if !strings.Contains(l.log.String(), `level=WARN msg="cluster without -cluster-key`) {
		t.Errorf("a keyless loopback cluster started without a warning:\n%s", l.log.String())
	}
	// With a key: no such warning.
	k := c.startNode("keyed", freePorts(t), false, "", "-cluster-key", "MDEyMzQ1Njc4OWFiY2RlZg==")
	if strings.Contains(k.log.String(), "without -cluster-key") {
		t.Errorf("a keyed node warned about a missing key:\n%s", k.log.String())
	}
}

// nonLoopbackIP returns an IPv4 address of this host that is not loopback, or skips the test.
func nonLoopbackIP(t *testing.T) string {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		t.Skip(err)
	}
	for _, a := range addrs {
		if ipn, ok := a.(*net.IPNet); ok && ipn.IP.To4() != nil && !ipn.IP.IsLoopback() && !ipn.IP.IsLinkLocalUnicast() {
			return ipn.IP.String()
		}
	}
	t.Skip("no non-loopback IPv4 address on this host")
	return ""
}

// freePortsOn is freePorts on ip for the public, gossip and stream listeners (the API stays on
// loopback).
func freePortsOn(t *testing.T, ip string) ports {
	t.Helper()
	var got []string
	var hold []io.Closer
	defer func() {
		for _, c := range hold {
			c.Close()
		}
	}()
	for len(got) < 3 {
		ln, err := net.Listen("tcp", net.JoinHostPort(ip, "0"))
		if err != nil {
			t.Fatal(err)
		}
		hold = append(hold, ln)
		if len(got) == 1 {
			pc, err := net.ListenPacket("udp", ln.Addr().String())
			if err != nil {
				continue
			}
			hold = append(hold, pc)
		}
		got = append(got, ln.Addr().String())
	}
	return ports{addr: got[0], gossip: got[1], remote: got[2], api: freePorts(t).api}
}

// TestProcessGCPercent: the node runs its collector at -gc-percent (default 50), unless GOGC is set and
// the flag is not; the Go runtime's own metric on /metrics says which target is in force.
func TestProcessGCPercent(t *testing.T) {
	c := newTestCluster(t)
	for _, tc := range []struct {
		name string
		args []string
		env  []string
		want float64
	}{
		{name: "default", want: 50},
		{name: "gogc", env: []string{"GOGC=80"}, want: 80},
		{name: "flag", args: []string{"-gc-percent", "120"}, env: []string{"GOGC=80"}, want: 120},
		{name: "env", env: []string{"GOGC=80", "ROOMIO_GC_PERCENT=70"}, want: 70},
	} {
		p := freePorts(t)
		n := c.spawnArgs(tc.name, p, append([]string{"-addr", p.addr, "-api-addr", p.api, "-log-level", "info"}, tc.args...), tc.env...)
		if err := n.waitListenLine(); err != nil {
			t.Fatal(err)
		}
		if got, ok := scrapeNode(t, n)["go_gc_gogc_percent"]; !ok || got != tc.want {
			t.Errorf("%s (args %q, env %q): go_gc_gogc_percent = %v (present %v), want %v", tc.name, tc.args, tc.env, got, ok, tc.want)
		}
	}
}
