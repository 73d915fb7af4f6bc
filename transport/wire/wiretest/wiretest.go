// Package wiretest holds test helpers for code that speaks the native protocol: hand-built frames
// (including ones a newer client could send), a field-by-field packet comparison, and a runner over both
// formats. It is for tests only.
package wiretest

import (
	"bytes"
	"fmt"
	"strings"
	"testing"

	"google.golang.org/protobuf/encoding/protowire"

	"github.com/roomio/roomio/internal/packet"
	"github.com/roomio/roomio/transport/wire"
)

// Formats are the native protocol's two formats.
var Formats = []wire.Format{wire.FormatProto, wire.FormatJSON}

// FormatName names f for subtests.
func FormatName(f wire.Format) string {
	if f == wire.FormatJSON {
		return "json"
	}
	return "proto"
}

// ForEachFormat runs fn as a parallel subtest for each native format.
func ForEachFormat(t *testing.T, fn func(t *testing.T, f wire.Format)) {
	t.Helper()
	for _, f := range Formats {
		t.Run(FormatName(f), func(t *testing.T) {
			t.Parallel()
			fn(t, f)
		})
	}
}

// PacketDiff describes how got differs from want, field by field, or returns "" when they are equal.
// Nil and empty byte slices are equal: the wire does not tell them apart.
func PacketDiff(got, want *packet.Packet) string {
	var d []string
	check := func(field string, eq bool, g, w any) {
		if !eq {
			d = append(d, fmt.Sprintf("%s: got %#v, want %#v", field, g, w))
		}
	}
	check("Kind", got.Kind == want.Kind, got.Kind, want.Kind)
	check("Namespace", got.Namespace == want.Namespace, got.Namespace, want.Namespace)
	check("Name", got.Name == want.Name, got.Name, want.Name)
	check("AckID", got.AckID == want.AckID, got.AckID, want.AckID)
	check("SID", got.SID == want.SID, got.SID, want.SID)
	check("PID", got.PID == want.PID, got.PID, want.PID)
	check("Offset", got.Offset == want.Offset, got.Offset, want.Offset)
	check("Code", got.Code == want.Code, got.Code, want.Code)
	check("Message", got.Message == want.Message, got.Message, want.Message)
	check("Data", bytes.Equal(got.Data, want.Data), string(got.Data), string(want.Data))
	check("Seq", got.Seq == want.Seq, got.Seq, want.Seq)
	if len(got.Args) != len(want.Args) {
		d = append(d, fmt.Sprintf("Args: got %d, want %d", len(got.Args), len(want.Args)))
	} else {
		for i := range got.Args {
			g, w := got.Args[i], want.Args[i]
			eq := g.Binary == w.Binary && bytes.Equal(g.Data, w.Data) && len(g.Attachments) == len(w.Attachments)
			for j := 0; eq && j < len(g.Attachments); j++ {
				eq = bytes.Equal(g.Attachments[j], w.Attachments[j])
			}
			check(fmt.Sprintf("Args[%d]", i), eq, g, w)
		}
	}
	return strings.Join(d, "; ")
}

// ProtoFrame returns the binary encoding of a Frame holding the given encoded Messages.
func ProtoFrame(msgs ...[]byte) []byte {
	var b []byte
	for _, m := range msgs {
		b = protowire.AppendBytes(protowire.AppendTag(b, 1, protowire.BytesType), m)
	}
	return b
}

// UnknownKind is a Message whose only field is one this version does not know: field 100, a kind a
// newer client might send.
func UnknownKind() []byte {
	return protowire.AppendVarint(protowire.AppendTag(nil, 100, protowire.VarintType), 1)
}
