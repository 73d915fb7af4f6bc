// Command roomio-bench is a load tool for Socket.IO servers and roomio nodes: it opens many connections
// (Socket.IO v5 over Engine.IO v4 WebSocket or long-polling, or roomio's native protocol), runs a
// scenario, prints a progress line every second on stderr, and writes what it measured as JSON and as a
// self-contained HTML report with charts.
//
//	go run ./cmd/roomio-bench -url http://127.0.0.1:8080 -scenario fanout -clients 1000 -rate 10
//	go run ./cmd/roomio-bench -url http://127.0.0.1:8080 -protocol socketio-polling -scenario rooms \
//	    -clients 500 -rooms 50 -rate 1 -duration 30s -json out.json -html out.html
//	go run ./cmd/roomio-bench -url http://127.0.0.1:3000 -scenario connect-storm -clients 5000 -concurrency 500
//	go run ./cmd/roomio-bench -url http://127.0.0.1:8080 -scenario idle -clients 5000 -rooms 500 -pid 4242
//	go run ./cmd/roomio-bench compare results.jsonl
//
// Scenarios: fanout (one room, -clients members, the first -publishers of them emit), rooms (-clients
// spread over -rooms rooms, every client emits into its room), idle (connections held for -duration),
// connect-storm (connections opened as fast as -concurrency allows). The server must speak the chat
// contract of roomio's built-in app — join(room) with an ack, say(room, payload) → said {room, from,
// payload} to every member of the room — or name its own events with -join-event, -say-event,
// -said-event and -say-args. -pid samples the server's processes from /proc over the measured window
// (after every client connected and joined, until the last delivery or the end of the hold): server CPU
// µs per delivery and, for idle, server RSS KiB per connection. A summary goes to stdout; the exit status
// is 1 when the run failed to start, 2 on bad flags. docs/benchmarks.md describes the JSON schema.
//
// "roomio-bench compare FILE..." reads -json results labelled A:<scenario> and B:<scenario> (-label) and
// prints medians per side, B/A ratios and RATIO lines: the table of scripts/bench/compare.sh.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"

	"github.com/roomio/roomio/internal/loadgen"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 && args[0] == "compare" {
		return compare(args[1:], stdout, stderr)
	}
	var cfg loadgen.Config
	var scenario, protocol, jsonOut, htmlOut, pids string
	var quiet bool
	fs := flag.NewFlagSet("roomio-bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&cfg.URL, "url", "http://127.0.0.1:8080", "server base URL; several, comma-separated (the nodes of a cluster), spread the clients round-robin")
	fs.StringVar(&cfg.Path, "path", "", "endpoint path (default /socket.io/, or /ws for native)")
	fs.StringVar(&scenario, "scenario", "fanout", "fanout, rooms, idle or connect-storm")
	fs.StringVar(&protocol, "protocol", "socketio", "socketio (WebSocket), socketio-polling (no upgrade) or native")
	fs.IntVar(&cfg.Clients, "clients", 100, "connections")
	fs.IntVar(&cfg.Rooms, "rooms", 0, "rooms: how many (default clients/10); idle: clients join one each, round-robin (default none)")
	fs.IntVar(&cfg.Publishers, "publishers", 0, "how many of the clients emit; fanout: 0 means 1; rooms: 0 means every client into its room, fewer are dedicated publishers in every room")
	fs.Float64Var(&cfg.Rate, "rate", 10, "emits per second per publisher; 0: flat out, -window emits in flight each")
	fs.IntVar(&cfg.Window, "window", 16, "flat out: emits per publisher on their way back to it")
	fs.IntVar(&cfg.Messages, "messages", 0, "emits per publisher, then stop (0: until -duration ends)")
	fs.DurationVar(&cfg.Duration, "duration", 10e9, "how long publishers emit, or idle connections are held")
	fs.DurationVar(&cfg.Drain, "drain", 5e9, "how long to wait for outstanding deliveries after the last emit")
	fs.IntVar(&cfg.PayloadBytes, "payload", 64, "payload size in bytes (about)")
	fs.IntVar(&cfg.Concurrency, "concurrency", 100, "connections being opened (or closed) at once")
	fs.DurationVar(&cfg.ConnectTimeout, "connect-timeout", 10e9, "bound on one connection's dial, connect and join")
	fs.StringVar(&cfg.Namespace, "namespace", "/", "namespace")
	fs.StringVar(&cfg.Auth, "auth", "", "JSON object sent as the connect auth (e.g. '{\"token\":\"…\"}')")
	fs.StringVar(&cfg.RoomPrefix, "room-prefix", "bench", "room names: <prefix>-<random run tag>-<n>")
	fs.StringVar(&cfg.JoinEvent, "join-event", "join", "event emitted with the room name and an ack to join; - to skip")
	fs.StringVar(&cfg.SayEvent, "say-event", "say", "event publishers emit")
	fs.StringVar(&cfg.SaidEvent, "said-event", "said", "event receivers count")
	fs.StringVar(&cfg.SayArgs, "say-args", "room,payload", "the say event's arguments in order: room and payload")
	fs.StringVar(&jsonOut, "json", "", "write the result as JSON to this file (- for stdout)")
	fs.StringVar(&htmlOut, "html", "", "write the HTML report to this file")
	fs.BoolVar(&quiet, "q", false, "no progress line")
	fs.StringVar(&pids, "pid", "", "comma-separated server process ids whose CPU time and RSS are sampled from /proc over the measured window")
	fs.StringVar(&cfg.Label, "label", "", "label copied into the JSON result (compare reads A:<scenario> and B:<scenario>)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "roomio-bench: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	cfg.Scenario, cfg.Protocol = loadgen.Scenario(scenario), loadgen.Protocol(protocol)
	for f := range strings.SplitSeq(pids, ",") {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		pid, err := strconv.Atoi(f)
		if err != nil {
			fmt.Fprintf(stderr, "roomio-bench: -pid %q: not a process id\n", f)
			return 2
		}
		cfg.PIDs = append(cfg.PIDs, pid)
	}
	if !quiet {
		cfg.Progress = stderr
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	res, err := loadgen.Run(ctx, cfg)
	if errors.Is(err, loadgen.ErrConfig) {
		fmt.Fprintln(stderr, "roomio-bench:", err)
		return 2
	}
	if res == nil {
		fmt.Fprintln(stderr, "roomio-bench:", err)
		return 1
	}
	if err != nil {
		fmt.Fprintln(stderr, "roomio-bench: interrupted, the result is partial:", err)
	}
	summary(stdout, res)
	if jsonOut != "" {
		if err := writeFile(jsonOut, stdout, func(w io.Writer) error {
			enc := json.NewEncoder(w)
			enc.SetIndent("", "  ")
			return enc.Encode(res)
		}); err != nil {
			fmt.Fprintln(stderr, "roomio-bench:", err)
			return 1
		}
	}
	if htmlOut != "" {
		if err := writeFile(htmlOut, stdout, func(w io.Writer) error { return loadgen.WriteHTML(w, res) }); err != nil {
			fmt.Fprintln(stderr, "roomio-bench:", err)
			return 1
		}
	}
	return 0
}

// compare prints the A/B table of the results in the named files (- or none: stdin).
func compare(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		args = []string{"-"}
	}
	var all []*loadgen.Result
	for _, name := range args {
		var rd io.Reader = os.Stdin
		if name != "-" {
			f, err := os.Open(name)
			if err != nil {
				fmt.Fprintln(stderr, "roomio-bench compare:", err)
				return 1
			}
			defer f.Close()
			rd = f
		}
		rs, err := loadgen.ReadResults(rd)
		if err != nil {
			fmt.Fprintf(stderr, "roomio-bench compare: %s: %v\n", name, err)
			return 1
		}
		all = append(all, rs...)
	}
	if err := loadgen.Compare(stdout, all); err != nil {
		fmt.Fprintln(stderr, "roomio-bench compare:", err)
		return 1
	}
	return 0
}

func writeFile(name string, stdout io.Writer, write func(io.Writer) error) error {
	if name == "-" {
		return write(stdout)
	}
	f, err := os.Create(name)
	if err != nil {
		return err
	}
	if err := write(f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func summary(w io.Writer, r *loadgen.Result) {
	fmt.Fprintf(w, "%s over %s to %s\n", r.Scenario, r.Protocol, r.Target)
	c := r.Connections
	fmt.Fprintf(w, "connections  %d/%d connected, %d failed, %d lost; %.0f/s; connect p50 %.2f ms p99 %.2f ms\n",
		c.Connected, c.Attempted, c.Failed, c.Lost, c.PerSec, c.ConnectLatency.P50Ms, c.ConnectLatency.P99Ms)
	m := r.Messages
	if m.Emits > 0 || m.Deliveries > 0 {
		fmt.Fprintf(w, "messages     %d emits (%.0f/s), %d deliveries (%.0f/s), expected %d, missing %d, duplicates %d\n",
			m.Emits, m.EmitsPerSec, m.Deliveries, m.DeliveriesPerSec, m.Expected, m.Missing, m.Duplicates)
		l := r.Latency
		fmt.Fprintf(w, "latency      p50 %.2f ms  p90 %.2f ms  p99 %.2f ms  p99.9 %.2f ms  max %.2f ms\n",
			l.P50Ms, l.P90Ms, l.P99Ms, l.P999Ms, l.MaxMs)
	}
	if s := r.ServerStats; s != nil {
		if s.Error != "" {
			fmt.Fprintf(w, "server       not measured: %s\n", s.Error)
		} else {
			fmt.Fprintf(w, "server       pids %v: %d µs CPU over %.3f s (%.1f %% of a core)", s.PIDs, s.CPUMicros, s.WindowSec, s.CPUPct)
			if r.Messages.Deliveries > 0 {
				fmt.Fprintf(w, ", %.3f µs per delivery (%.3f of it system); this tool %.3f µs per delivery",
					s.CPUMicrosPerDelivery, s.SysMicrosPerDelivery, s.ClientCPUMicrosPerDelivery)
			}
			fmt.Fprintf(w, "; RSS %d → %d KiB", s.RSSKiBBefore, s.RSSKiBAfter)
			if r.Scenario == loadgen.Idle {
				fmt.Fprintf(w, ", %.2f KiB per connection", s.RSSKiBPerConn)
			}
			fmt.Fprintln(w)
		}
	}
	e := r.Errors
	fmt.Fprintf(w, "errors       %d (connect %d, join %d, emit %d, disconnect %d)\n", e.Total, e.Connect, e.Join, e.Emit, e.Disconnect)
	for _, s := range e.Samples {
		fmt.Fprintf(w, "  %s\n", s)
	}
}
