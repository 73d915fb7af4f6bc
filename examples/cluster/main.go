// Command cluster runs a three-node roomio cluster on one machine, in one process: three engines that
// find each other by gossip on loopback, each serving the chat of examples/chat on its own HTTP port.
//
//	go run ./examples/cluster                # nodes at http://127.0.0.1:8080/, :8081/ and :8082/
//	go run ./examples/cluster -port 9000     # :9000, :9001 and :9002
//
// Open two of them in two tabs, join the same room in both and chat: every message crosses from one node
// to the other, with no broker and no sticky sessions. A whisper to a socket id reaches it on whichever
// node it is connected to.
//
// It shows what makes an engine a node of a cluster: [engine.ClusterConfig] with a gossip address and a
// node-to-node address to bind (port 0 picks a free one) and, for every node but the first, a seed to
// join. Nothing else changes: the same handlers and the same broadcasts reach sockets on every node.
// The nodes log their gossip addresses, so a separate process can join too:
//
//	go run ./cmd/roomio -addr 127.0.0.1:8083 -cluster-addr 127.0.0.1:7946 -join <a node's gossip address>
//
// In production each node is its own process on its own machine, as cmd/roomio runs it; the engines here
// share a process only to make the cluster one command.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/roomio/roomio/client/browser"
	"github.com/roomio/roomio/engine"
	"github.com/roomio/roomio/examples/chat/chatapp"
)

func main() {
	port := flag.Int("port", 8080, "HTTP port of the first node; the others use the next two")
	flag.Parse()
	if err := run(*port); err != nil {
		log.Fatal(err)
	}
}

func run(port int) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	logger := slog.New(slog.NewTextHandler(os.Stderr, nil))
	var addrs []string
	for i := range 3 {
		addrs = append(addrs, net.JoinHostPort("127.0.0.1", strconv.Itoa(port+i)))
	}
	c, err := startCluster(ctx, addrs, logger)
	if err != nil {
		return err
	}
	for _, n := range c.nodes {
		logger.Info("node ready", "url", "http://"+n.addr+"/", "node", n.eng.NodeID(), "gossip", n.eng.ClusterMembers()[0].GossipAddr)
	}

	select {
	case <-ctx.Done():
	case err := <-c.serveErr:
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		return errors.Join(err, c.shutdown(ctx))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return c.shutdown(ctx)
}

// node is one engine of the cluster with its HTTP server.
type node struct {
	eng  *engine.Engine
	srv  *http.Server
	addr string // the HTTP listener's address
}

// cluster is the nodes startCluster started.
type cluster struct {
	nodes    []*node
	serveErr chan error     // an HTTP server that stopped serving on its own
	serving  sync.WaitGroup // the goroutines running the HTTP servers
}

// startCluster starts one node per HTTP address (port 0 picks a free one), each running the chat app on
// namespace "/". The first node is the seed the others join; each Start returns once the node has joined.
// On error the nodes already started are shut down.
func startCluster(ctx context.Context, httpAddrs []string, logger *slog.Logger) (_ *cluster, err error) {
	c := &cluster{serveErr: make(chan error, len(httpAddrs))}
	defer func() {
		if err != nil {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			c.shutdown(ctx)
		}
	}()
	var seed string
	for i, addr := range httpAddrs {
		cfg := engine.Config{
			Logger: logger.With("http", addr),
			Cluster: engine.ClusterConfig{
				GossipAddr: "127.0.0.1:0", // membership: memberlist's gossip
				RemoteAddr: "127.0.0.1:0", // delivery: node-to-node streams
			},
		}
		if seed != "" {
			cfg.Cluster.Seeds = []string{seed}
		}
		eng, err := engine.New(cfg)
		if err != nil {
			return nil, fmt.Errorf("node %d: %w", i, err)
		}
		chatapp.Register(eng.Of("/"))
		if err := eng.Start(ctx); err != nil {
			eng.Close()
			return nil, fmt.Errorf("node %d: %w", i, err)
		}
		if seed == "" {
			seed = eng.ClusterMembers()[0].GossipAddr // this node, with the port it was given
		}
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			eng.Close()
			return nil, fmt.Errorf("node %d: %w", i, err)
		}
		n := &node{eng: eng, addr: ln.Addr().String(), srv: &http.Server{Handler: newMux(eng), ReadHeaderTimeout: 10 * time.Second}}
		c.nodes = append(c.nodes, n)
		c.serving.Go(func() {
			if err := n.srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
				c.serveErr <- err
			}
		})
	}
	return c, nil
}

// newMux is examples/chat's: the chat page, the browser client it imports, the WebSocket endpoint.
func newMux(eng *engine.Engine) *http.ServeMux {
	mux := http.NewServeMux()
	mux.Handle("GET /{$}", chatapp.Page())
	mux.Handle("GET /roomio.js", browser.Handler())
	mux.Handle("/ws", eng.Handler())
	return mux
}

// shutdown stops the nodes, the last started first: each engine (which leaves the cluster and closes its
// WebSockets) before its HTTP server. It returns once every server goroutine has ended.
func (c *cluster) shutdown(ctx context.Context) error {
	var errs []error
	for _, n := range slices.Backward(c.nodes) {
		errs = append(errs, n.eng.Shutdown(ctx), n.srv.Shutdown(ctx))
	}
	c.serving.Wait()
	return errors.Join(errs...)
}
