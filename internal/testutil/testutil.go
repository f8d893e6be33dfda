// Package testutil holds what tests of several packages share.
package testutil

import (
	"bytes"
	"sync"
)

// SyncBuffer collects output written from several goroutines, such as log
// lines of a server under test.
type SyncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *SyncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *SyncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
