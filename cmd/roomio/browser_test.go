package main_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// browserEnv skips the test without ROOMIO_E2E=1 and otherwise returns the repository's root (where
// the e2e scripts run) and Node.js, failing the test when what scripts/e2e-setup.sh installs for the
// headless-Chromium scripts is missing.
func browserEnv(t *testing.T) (root, nodeJS string) {
	t.Helper()
	if os.Getenv("ROOMIO_E2E") != "1" {
		t.Skip("real-browser test: run scripts/e2e-setup.sh, then ROOMIO_E2E=1 go test -run Browser -v ./cmd/roomio/")
	}
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	nodeJS, err = exec.LookPath("node")
	if err != nil {
		t.Fatalf("ROOMIO_E2E=1 but Node.js is not on PATH: %v", err)
	}
	if _, err := os.Stat(filepath.Join(root, "e2e", "node_modules", "playwright-core")); err != nil {
		t.Fatalf("e2e/node_modules/playwright-core missing (run scripts/e2e-setup.sh): %v", err)
	}
	if _, err := os.Stat("/usr/bin/chromium"); err != nil && os.Getenv("CHROMIUM") == "" {
		t.Fatalf("/usr/bin/chromium missing (run scripts/e2e-setup.sh): %v", err)
	}
	return root, nodeJS
}

// TestBrowserChat is the real-browser end-to-end test: it builds and starts the node, then runs
// e2e/chat.mjs, which opens the chat demo in two headless Chromium pages, joins both to one room and checks
// that a message sent by one appears in both. It needs Node.js, /usr/bin/chromium and e2e/node_modules,
// which scripts/e2e-setup.sh installs, so it only runs with ROOMIO_E2E=1:
//
//	scripts/e2e-setup.sh && ROOMIO_E2E=1 go test -run Browser -v ./cmd/roomio/
func TestBrowserChat(t *testing.T) {
	root, nodeJS := browserEnv(t)
	trackInputs(t, root)
	bin := buildNode(t)
	addr := startNode(t, bin)

	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, nodeJS, filepath.Join("e2e", "chat.mjs"), "http://"+addr+"/")
	cmd.Dir = root
	cmd.WaitDelay = 5 * time.Second // don't hang on pipes a killed script's children still hold
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("node e2e/chat.mjs failed: %v\n%s", err, out)
	}
	t.Logf("node e2e/chat.mjs:\n%s", out)
}

// trackInputs opens every file of the module outside .git and node_modules. go test reuses a passing
// result while the test binary and the files and environment variables the test read are unchanged; the
// node binary, the web files and the e2e script are this test's real inputs but not part of its binary,
// so without this a stale PASS would be replayed after they change.
func trackInputs(t testing.TB, root string) {
	t.Helper()
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if name := d.Name(); path != root && (name == ".git" || name == "node_modules" || strings.HasPrefix(name, ".")) {
				return filepath.SkipDir
			}
			return nil
		}
		if !d.Type().IsRegular() {
			return nil
		}
		f, err := os.Open(path) // recorded in the test log with the file's size and mtime
		if err != nil {
			return err
		}
		return f.Close()
	})
	if err != nil {
		t.Fatalf("walk module: %v", err)
	}
}

// buildNode compiles this package's binary into a temporary directory, with the race detector when the
// test itself runs under -race, so races the browser traffic provokes in the node fail the test too.
func buildNode(t testing.TB) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
	defer cancel()
	bin, err := buildNodeIn(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return bin
}

// buildNodeIn is buildNode into dir.
func buildNodeIn(ctx context.Context, dir string) (string, error) {
	goCmd, err := exec.LookPath("go")
	if err != nil {
		return "", fmt.Errorf("go not on PATH: %w", err)
	}
	bin := filepath.Join(dir, "roomio")
	args := []string{"build", "-o", bin}
	if raceEnabled() {
		args = append(args, "-race")
	}
	cmd := exec.CommandContext(ctx, goCmd, append(args, ".")...)
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build: %w\n%s", err, out)
	}
	return bin, nil
}

func raceEnabled() bool {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return false
	}
	for _, s := range bi.Settings {
		if s.Key == "-race" {
			return s.Value == "true"
		}
	}
	return false
}

// startNode runs bin with extra flags on a free loopback port and returns the address from its
// "listening" log line. A cleanup stops it with SIGTERM and fails the test unless it exits cleanly; its
// log is printed then when the test failed.
func startNode(t testing.TB, bin string, extra ...string) string {
	t.Helper()
	logw := &nodeLog{listening: make(chan string, 1)}
	cmd := exec.Command(bin, append([]string{"-addr", "127.0.0.1:0", "-api-addr", "", "-log-level", "info"}, extra...)...)
	cmd.Stdout = logw
	cmd.Stderr = logw
	if err := cmd.Start(); err != nil {
		t.Fatalf("start node: %v", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()

	stopped := false
	stop := func() {
		if stopped {
			return
		}
		stopped = true
		if err := cmd.Process.Signal(syscall.SIGTERM); err != nil && !errors.Is(err, os.ErrProcessDone) {
			t.Errorf("SIGTERM node: %v", err)
		}
		select {
		case err := <-exited:
			if err != nil {
				t.Errorf("node did not exit cleanly after SIGTERM: %v", err)
			}
			if strings.Contains(logw.String(), "WARNING: DATA RACE") {
				t.Errorf("the race detector reported a data race in the node")
			}
		case <-time.After(20 * time.Second):
			cmd.Process.Kill()
			<-exited
			t.Errorf("node still running 20s after SIGTERM; killed")
		}
		if t.Failed() {
			t.Logf("node log:\n%s", logw.String())
		}
	}
	t.Cleanup(stop)

	select {
	case addr := <-logw.listening:
		return addr
	case err := <-exited:
		exited <- err // for stop
		t.Fatalf("node exited before listening: %v\n%s", err, logw.String())
	case <-time.After(30 * time.Second):
		t.Fatalf("node did not log msg=listening within 30s")
	}
	return ""
}

// listenRE matches the node's slog text line, e.g. `time=... level=INFO msg=listening addr=127.0.0.1:38211`.
var (
	listenRE = regexp.MustCompile(`(?:^|\s)msg="?listening"?(?:\s|$)`)
	addrRE   = regexp.MustCompile(`(?:^|\s)addr=("(?:[^"\\]|\\.)*"|\S+)`)
)

// nodeLog collects the node's output and reports the address of the first "listening" line.
type nodeLog struct {
	mu        sync.Mutex
	buf       bytes.Buffer
	scanned   int // bytes of buf already split into lines
	listening chan string
	found     bool
	changed   chan struct{} // when not nil, signalled (without blocking) after each write
}

func (l *nodeLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.buf.Write(p)
	for !l.found {
		rest := l.buf.Bytes()[l.scanned:]
		i := bytes.IndexByte(rest, '\n')
		if i < 0 {
			break
		}
		line := string(rest[:i])
		l.scanned += i + 1
		if !listenRE.MatchString(line) {
			continue
		}
		m := addrRE.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		addr := m[1]
		if strings.HasPrefix(addr, `"`) {
			if u, err := strconv.Unquote(addr); err == nil {
				addr = u
			}
		}
		l.found = true
		l.listening <- addr
	}
	if l.changed != nil {
		select {
		case l.changed <- struct{}{}:
		default:
		}
	}
	return len(p), nil
}

func (l *nodeLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}
