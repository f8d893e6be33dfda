package backend

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"hash"
	"sync"
)

// verified remembers app passwords that have just passed the full check,
// so that a device binding again (Dovecot binds at every login, Postfix at
// every submission) is answered with one keyed hash and one map probe
// instead of the derivation and two queries.
//
// What it holds never leaves the process: a key drawn at start, and for
// each entry HMAC-SHA256(key, login, app password) with the account and
// app password it stands for. The store keeps its verifiers exactly as
// before; this is no copy of them, and is useless without the process's
// memory, which holds the pepper anyway.
//
// An entry is only as good as the store's generation it was verified in:
// any write that can change a bind's answer (a revocation, a lock, a
// disabled account, a password change, from this process or another)
// moves the generation, and every entry made before it is ignored. Entries
// are made only from the full check, so a lock, a disabled account or a
// revoked app password is always seen by it.
type verified struct {
	mu  sync.RWMutex
	gen Generation
	m   map[[sha256.Size]byte]verifiedEntry
	// macs are keyed HMAC states with a buffer for their input, reused.
	macs sync.Pool
}

type verifiedMAC struct {
	h   hash.Hash
	buf []byte
}

type verifiedEntry struct {
	name, role  string
	appPassword string
}

// maxVerified bounds the entries: about 150 bytes each. Past it the map
// starts over, which costs each device one full check.
const maxVerified = 100_000

func newVerified() *verified {
	var key [32]byte
	if _, err := rand.Read(key[:]); err != nil {
		panic("crypto/rand failed: " + err.Error())
	}
	v := &verified{}
	v.macs.New = func() any { return &verifiedMAC{h: hmac.New(sha256.New, key[:])} }
	return v
}

func (v *verified) key(login, norm string) (k [sha256.Size]byte) {
	m := v.macs.Get().(*verifiedMAC)
	m.buf = append(append(append(m.buf[:0], login...), 0), norm...)
	m.h.Reset()
	m.h.Write(m.buf)
	m.h.Sum(k[:0])
	if cap(m.buf) > 1024 {
		m.buf = nil // a long bind name once must not stay
	}
	v.macs.Put(m)
	return k
}

// get returns the principal of an app password verified in generation gen.
func (v *verified) get(gen Generation, k [sha256.Size]byte) (*Principal, bool) {
	v.mu.RLock()
	defer v.mu.RUnlock()
	if v.gen != gen {
		return nil, false
	}
	e, ok := v.m[k]
	if !ok {
		return nil, false
	}
	return &Principal{Name: e.name, Role: e.role, Method: MethodAppPassword, AppPasswordID: e.appPassword}, true
}

// put remembers a principal the full check accepted; gen is the generation
// read before that check began, so a write during it voids the entry.
//
// Generations have no order to trust (a restored database counts again
// from an older number), so any other generation starts the map over. A
// bind that read the generation just before a write and puts after it
// costs the few devices verified since the write one more full check each.
func (v *verified) put(gen Generation, k [sha256.Size]byte, p *Principal) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if gen != v.gen || v.m == nil || len(v.m) >= maxVerified {
		v.gen = gen
		v.m = make(map[[sha256.Size]byte]verifiedEntry)
	}
	v.m[k] = verifiedEntry{name: p.Name, role: p.Role, appPassword: p.AppPasswordID}
}
