package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/roomio/roomio/engine"
	"github.com/roomio/roomio/examples/chat/chatapp"
	"github.com/roomio/roomio/internal/loadgen"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// serveChat starts a roomio node in-process (the engine and the chat app on "/") and returns its URL.
func serveChat(t *testing.T) string {
	t.Helper()
	eng, err := engine.New(engine.Config{})
	if err != nil {
		t.Fatal(err)
	}
	chatapp.Register(eng.Of("/"))
	if err := eng.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/socket.io/", eng.SocketIOHandler())
	srv := httptest.NewServer(mux)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := eng.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
		srv.Close()
	})
	return srv.URL
}

// TestRun runs the program's flags against a node in-process and reads the files it wrote.
func TestRun(t *testing.T) {
	url := serveChat(t)
	dir := t.TempDir()
	jsonFile, htmlFile := filepath.Join(dir, "r.json"), filepath.Join(dir, "r.html")
	var stdout, stderr bytes.Buffer
	code := run([]string{"-url", url, "-scenario", "rooms", "-clients", "8", "-rooms", "2", "-rate", "20",
		"-duration", "1s", "-json", jsonFile, "-html", htmlFile}, &stdout, &stderr)
	if code != 0 {
		t.Fatalf("exit %d; stderr:\n%s", code, stderr.String())
	}
	if !strings.Contains(stdout.String(), "rooms over socketio") || !strings.Contains(stderr.String(), "deliveries/s") {
		t.Errorf("stdout:\n%s\nstderr:\n%s", stdout.String(), stderr.String())
	}
	b, err := os.ReadFile(jsonFile)
	if err != nil {
		t.Fatal(err)
	}
	var res loadgen.Result
	if err := json.Unmarshal(b, &res); err != nil {
		t.Fatal(err)
	}
	if res.Schema != loadgen.SchemaVersion || res.Messages.Deliveries == 0 || res.Messages.Deliveries != res.Messages.Expected {
		t.Errorf("result %+v", res.Messages)
	}
	h, err := os.ReadFile(htmlFile)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(h, []byte("<svg")) || !bytes.HasSuffix(bytes.TrimSpace(h), []byte("</html>")) {
		t.Errorf("the HTML report has no chart or is cut short")
	}
}

func TestBadFlags(t *testing.T) {
	for _, args := range [][]string{{"-scenario", "nope"}, {"-protocol", "x"}, {"-clients", "x"}, {"extra"},
		{"-pid", "x"}, {"-pid", "1073741824"}} {
		var stdout, stderr bytes.Buffer
		if code := run(args, &stdout, &stderr); code != 2 || stderr.Len() == 0 {
			t.Errorf("run(%q) = %d, stderr %q; want 2 and a message", args, code, stderr.String())
		}
	}
}

// TestPIDAndCompare runs two labelled fan-outs with -pid (this process: the node runs in it), appends
// their JSON into one file and prints the comparison from it.
func TestPIDAndCompare(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("-pid reads /proc: Linux only")
	}
	url := serveChat(t)
	dir := t.TempDir()
	all := filepath.Join(dir, "all.json")
	var joined []byte
	for _, label := range []string{"A:fanout", "B:fanout"} {
		out := filepath.Join(dir, "r.json")
		var stdout, stderr bytes.Buffer
		code := run([]string{"-url", url, "-clients", "4", "-rate", "0", "-window", "4", "-messages", "200",
			"-duration", "1m", "-q", "-pid", strconv.Itoa(os.Getpid()), "-label", label, "-json", out}, &stdout, &stderr)
		if code != 0 {
			t.Fatalf("exit %d; stderr:\n%s", code, stderr.String())
		}
		if !strings.Contains(stdout.String(), "µs per delivery") {
			t.Errorf("no server line in the summary:\n%s", stdout.String())
		}
		b, err := os.ReadFile(out)
		if err != nil {
			t.Fatal(err)
		}
		var res loadgen.Result
		if err := json.Unmarshal(b, &res); err != nil {
			t.Fatal(err)
		}
		if res.ServerStats == nil || res.ServerStats.CPUMicros <= 0 || res.ServerStats.CPUMicrosPerDelivery <= 0 ||
			res.Messages.Deliveries != 800 || res.Label != label {
			t.Errorf("%s: server %+v messages %+v", label, res.ServerStats, res.Messages)
		}
		joined = append(joined, b...)
	}
	if err := os.WriteFile(all, joined, 0o644); err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	if code := run([]string{"compare", all}, &stdout, &stderr); code != 0 {
		t.Fatalf("compare: exit %d, stderr %s", code, stderr.String())
	}
	for _, want := range []string{"RATIO fanout.cpu_us_per_delivery B/A=", "RATIO fanout.deliveries_per_s B/A=", "RATIO fanout.p99_ms B/A="} {
		if !strings.Contains(stdout.String(), want) {
			t.Errorf("no %q in\n%s", want, stdout.String())
		}
	}
	if code := run([]string{"compare", filepath.Join(dir, "none")}, &stdout, &stderr); code != 1 {
		t.Errorf("compare of a missing file: exit %d, want 1", code)
	}
}
