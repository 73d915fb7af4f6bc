package main_test

import (
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"
)

// TestBrowserAdmin runs the official Socket.IO Admin UI (npm @socket.io/admin-ui, installed in
// e2e/node_modules by scripts/e2e-setup.sh, never committed) against the node binary: the node serves
// the admin namespace (-admin-ui, a bcrypt-hashed password) and the UI's built files at /admin/
// (-admin-ui-dir); e2e/admin.mjs opens the UI in headless Chromium, logs in through its connection form,
// finds a test socket and its room, and disconnects the socket with the UI's button. Like
// TestBrowserChat it runs only with ROOMIO_E2E=1:
//
//	scripts/e2e-setup.sh && ROOMIO_E2E=1 go test -run Admin -v ./cmd/roomio/
func TestBrowserAdmin(t *testing.T) {
	root, nodeJS := browserEnv(t)
	uiDir := filepath.Join(root, "e2e", "node_modules", "@socket.io", "admin-ui", "ui", "dist")
	if _, err := os.Stat(filepath.Join(uiDir, "index.html")); err != nil {
		t.Fatalf("the Admin UI is not installed (run scripts/e2e-setup.sh): %v", err)
	}

	const user, password = "ops", "changeit"
	// The lowest cost: the node runs with the race detector, which makes each check of a cost-10 hash
	// take seconds; the cost changes nothing else.
	hash, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	trackInputs(t, root)
	bin := buildNode(t)
	// The API (which the script asks whether the socket is gone) listens on its own loopback port.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	apiAddr := ln.Addr().String()
	ln.Close()
	addr := startNode(t, bin, "-api-addr", apiAddr, "-admin-ui", "-admin-user", user, "-admin-password-hash", string(hash), "-admin-ui-dir", uiDir)

	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, nodeJS, filepath.Join("e2e", "admin.mjs"), "http://"+addr+"/", user, password, "http://"+apiAddr)
	cmd.Dir = root
	cmd.WaitDelay = 5 * time.Second
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("node e2e/admin.mjs failed: %v\n%s", err, out)
	}
	t.Logf("node e2e/admin.mjs:\n%s", out)
}
