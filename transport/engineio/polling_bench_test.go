package engineio_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/roomio/roomio/transport/engineio"
)

// nopHandler drops the client's messages.
type nopHandler struct{}

func (nopHandler) OnMessage([]byte, bool) {}
func (nopHandler) OnClose(string)         {}

// BenchmarkPollRoundTrip measures one long-polling delivery end to end: the server queues a message,
// the client's GET takes it (one op = one message and one poll, over a kept-alive connection).
func BenchmarkPollRoundTrip(b *testing.B) {
	sessions := make(chan *engineio.Session, 1)
	srv := engineio.NewServer(engineio.Options{
		PingInterval: time.Hour, PingTimeout: time.Hour,
		OnSession: func(s *engineio.Session) { s.SetHandler(nopHandler{}); sessions <- s },
	})
	hs := httptest.NewServer(srv)
	defer hs.Close()
	defer srv.Shutdown(context.Background())
	hc := &http.Client{Transport: &http.Transport{}}
	defer hc.CloseIdleConnections()
	get := func(q string) []byte {
		resp, err := hc.Get(hs.URL + "/?EIO=4&transport=polling" + q)
		if err != nil {
			b.Fatal(err)
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || resp.StatusCode != http.StatusOK {
			b.Fatalf("GET %s: %d %v", q, resp.StatusCode, err)
		}
		return body
	}
	var open struct{ Sid string }
	if err := json.Unmarshal(get("")[1:], &open); err != nil {
		b.Fatal(err)
	}
	s := <-sessions
	msg := []byte(`42["tick",1]`)
	b.ReportAllocs()
	for b.Loop() {
		if err := s.SendMessage(msg, false); err != nil {
			b.Fatal(err)
		}
		get("&sid=" + open.Sid)
	}
}
