package registry_test

import (
	"bytes"
	"crypto/rand"
	"net/http"
	"testing"
)

// BenchmarkBlobPushPull pushes an 8 MiB blob (monolithic, digest verified
// while streaming, written to disk and renamed) and pulls it back, through
// the real server over TLS; it reports MB/s of the round trip.
func BenchmarkBlobPushPull(b *testing.B) {
	e := newEnv(b)
	blob := make([]byte, 8<<20)
	b.SetBytes(int64(len(blob)))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		rand.Read(blob[:64]) // a new digest each time
		d := e.pushBlob(b, e.alice, "shop/bench", blob)
		code, body := e.do(b, "GET", "/v2/shop/bench/blobs/"+d, e.alice, nil, nil)
		if code != http.StatusOK || !bytes.Equal(body, blob) {
			b.Fatalf("pull = %d (%d bytes)", code, len(body))
		}
	}
}
