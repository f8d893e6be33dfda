//go:build !unix

package sqlite

// Without mmap, every Generation is a query.

type walWatch struct{}

const walHeaderSize = 48

func openWALWatch(string) *walWatch { return nil }

func (w *walWatch) header() ([walHeaderSize]byte, bool)       { return [walHeaderSize]byte{}, false }
func (w *walWatch) cached([walHeaderSize]byte) (uint64, bool) { return 0, false }
func (w *walWatch) remember([walHeaderSize]byte, uint64)      {}
func (w *walWatch) close()                                    {}
