package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
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

// TestRun runs the program's flags against a node in-process and reads the files it wrote.
func TestRun(t *testing.T) {
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

	dir := t.TempDir()
	jsonFile, htmlFile := filepath.Join(dir, "r.json"), filepath.Join(dir, "r.html")
	var stdout, stderr bytes.Buffer
	code := run([]string{"-url", srv.URL, "-scenario", "rooms", "-clients", "8", "-rooms", "2", "-rate", "20",
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
	for _, args := range [][]string{{"-scenario", "nope"}, {"-protocol", "x"}, {"-clients", "x"}, {"extra"}} {
		var stdout, stderr bytes.Buffer
		if code := run(args, &stdout, &stderr); code != 2 || stderr.Len() == 0 {
			t.Errorf("run(%q) = %d, stderr %q; want 2 and a message", args, code, stderr.String())
		}
	}
}
