package backend

import (
	"runtime"
	"time"
)

// flusher runs flush every interval, early when poked, and a last time on
// close: the loop behind the recorders that keep bookkeeping off the bind
// path (last use of app passwords, the audit trail).
type flusher struct {
	kick chan struct{}
	stop chan struct{}
	done chan struct{}
}

func startFlusher(interval time.Duration, flush func()) *flusher {
	f := &flusher{kick: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(f.done)
		// A flush is thousands of rows at once; binds arriving meanwhile
		// should not wait behind it. Its own thread at a lower priority
		// (Linux: nice 10) lets the kernel run binds first; the thread
		// ends with the loop.
		runtime.LockOSThread()
		background()
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-t.C:
			case <-f.kick:
			case <-f.stop:
				flush()
				return
			}
			flush()
		}
	}()
	return f
}

// poke asks for a flush soon, without waiting.
func (f *flusher) poke() {
	select {
	case f.kick <- struct{}{}:
	default:
	}
}

// close flushes a last time and waits for it. Call it once.
func (f *flusher) close() {
	close(f.stop)
	<-f.done
}
