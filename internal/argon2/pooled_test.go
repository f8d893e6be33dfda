package argon2

import (
	"bytes"
	"math/rand/v2"
	"sync"
	"testing"

	upstream "golang.org/x/crypto/argon2"
)

// Reused memory must never change a key: every derivation below runs on
// memory a former one, of other inputs, left behind, in both modes, with
// one and several lanes, and concurrently.
func TestPooledMemoryGivesUpstreamKeys(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	bytesOf := func(n int) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(r.Uint32())
		}
		return b
	}
	type input struct {
		password, salt []byte
		time, memory   uint32
		threads        uint8
	}
	var inputs []input
	for range 40 {
		inputs = append(inputs, input{
			password: bytesOf(r.IntN(40)),
			salt:     bytesOf(8 + r.IntN(24)),
			time:     1 + r.Uint32N(3),
			memory:   []uint32{64, 256, 1024}[r.IntN(3)],
			threads:  uint8(1 + r.IntN(4)),
		})
	}
	check := func(in input) {
		if got, want := IDKey(in.password, in.salt, in.time, in.memory, in.threads, 32),
			upstream.IDKey(in.password, in.salt, in.time, in.memory, in.threads, 32); !bytes.Equal(got, want) {
			t.Errorf("IDKey(t=%d m=%d p=%d) = %x, upstream %x", in.time, in.memory, in.threads, got, want)
		}
		if got, want := Key(in.password, in.salt, in.time, in.memory, in.threads, 32),
			upstream.Key(in.password, in.salt, in.time, in.memory, in.threads, 32); !bytes.Equal(got, want) {
			t.Errorf("Key(t=%d m=%d p=%d) = %x, upstream %x", in.time, in.memory, in.threads, got, want)
		}
	}
	for _, in := range inputs {
		check(in)
	}
	var wg sync.WaitGroup
	for _, in := range inputs {
		wg.Go(func() { check(in) })
	}
	wg.Wait()
}

func BenchmarkIDKeyOWASP(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		IDKey([]byte("password"), []byte("somesaltsomesalt"), 2, 19456, 1, 32)
	}
}

func BenchmarkIDKeyOWASPUpstream(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		upstream.IDKey([]byte("password"), []byte("somesaltsomesalt"), 2, 19456, 1, 32)
	}
}
