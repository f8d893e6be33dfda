//go:build unix

package sqlite

import (
	"bytes"
	"os"
	"sync"
	"syscall"

	"github.com/wicketldap/wicket/backend"
)

// walWatch tells, without a query, that no transaction has committed since
// the generation was last read, so that the bind path reads the database
// only after something changed.
//
// In WAL mode every commit, by any connection of any process, publishes
// itself by rewriting the header of the WAL index (the -shm file, shared
// memory that SQLite maps): the last valid frame, the salts and checksums
// (https://www.sqlite.org/walformat.html, "The WAL-Index Header"). Readers
// find new commits through that header and nothing else, so while it is
// byte for byte unchanged the database is unchanged. SQLite writes its two
// copies one after the other and readers trust them only when both agree;
// so does this. Anything else (copies that differ, a torn read, a header
// being rebuilt) only means "ask the database".
//
// The file is removed only when the last connection of the last process
// closes; the store pins one connection for as long as the watch lives.
type walWatch struct {
	f   *os.File
	mem []byte

	mu    sync.Mutex
	last  [walHeaderSize]byte
	gen   backend.Generation
	valid bool
}

// walHeaderSize is one copy of the WAL-index header; two follow each other
// at the start of the file.
const walHeaderSize = 48

func openWALWatch(dbPath string) *walWatch {
	f, err := os.Open(dbPath + "-shm")
	if err != nil {
		return nil
	}
	if st, err := f.Stat(); err != nil || st.Size() < 2*walHeaderSize {
		f.Close()
		return nil
	}
	mem, err := syscall.Mmap(int(f.Fd()), 0, 2*walHeaderSize, syscall.PROT_READ, syscall.MAP_SHARED)
	if err != nil {
		f.Close()
		return nil
	}
	return &walWatch{f: f, mem: mem}
}

// header reads the header; false when its copies disagree.
func (w *walWatch) header() (h [walHeaderSize]byte, ok bool) {
	var second [walHeaderSize]byte
	copy(h[:], w.mem[:walHeaderSize])
	copy(second[:], w.mem[walHeaderSize:2*walHeaderSize])
	return h, bytes.Equal(h[:], second[:])
}

// cached returns the generation read while the header was h, if it is.
func (w *walWatch) cached(h [walHeaderSize]byte) (backend.Generation, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.gen, w.valid && w.last == h
}

// remember records gen, read from the database after header h was seen:
// it is at least as new as h, so it is right for as long as h stays.
func (w *walWatch) remember(h [walHeaderSize]byte, gen backend.Generation) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.last, w.gen, w.valid = h, gen, true
}

func (w *walWatch) close() {
	syscall.Munmap(w.mem)
	w.f.Close()
}
