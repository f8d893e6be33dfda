//go:build !unix

package sqlite

import "github.com/wicketldap/wicket/backend"

// Without mmap, every Generation is a query.

type walWatch struct{}

const walHeaderSize = 48

func openWALWatch(string) *walWatch { return nil }

func (w *walWatch) header() ([walHeaderSize]byte, bool) { return [walHeaderSize]byte{}, false }
func (w *walWatch) cached([walHeaderSize]byte) (backend.Generation, bool) {
	return backend.Generation{}, false
}
func (w *walWatch) remember([walHeaderSize]byte, backend.Generation) {}
func (w *walWatch) close()                                           {}
