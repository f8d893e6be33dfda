package backend

import (
	"runtime"
	"time"
)

// flushReason says why a flusher calls its flush.
type flushReason int

const (
	flushTick  flushReason = iota // the interval passed
	flushPoke                     // poke: a batch is full, or a retry is due
	flushHurry                    // hurry: records that must not wait for the interval
	flushClose                    // the last flush, on close
)

// flusher runs flush every interval, early when poked or hurried, and a
// last time on close: the loop behind the recorders that keep bookkeeping
// off the bind path (last use of app passwords, the audit trail).
type flusher struct {
	kick chan struct{}
	rush chan struct{}
	stop chan struct{}
	done chan struct{}
}

func startFlusher(interval time.Duration, flush func(flushReason)) *flusher {
	f := &flusher{kick: make(chan struct{}, 1), rush: make(chan struct{}, 1), stop: make(chan struct{}),
		done: make(chan struct{})}
	go func() {
		defer close(f.done)
		// A flush is thousands of rows at once; binds arriving meanwhile
		// should not wait behind it. Its own thread at a lower priority
		// (Linux: nice 10) lets the kernel run binds first; the thread
		// ends with the loop.
		runtime.LockOSThread()
		lowerPriority(10)
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			why := flushTick
			select {
			case <-t.C:
			case <-f.kick:
				why = flushPoke
			case <-f.rush:
				why = flushHurry
			case <-f.stop:
				flush(flushClose)
				return
			}
			flush(why)
		}
	}()
	return f
}

// poke asks for a flush soon, without waiting.
func (f *flusher) poke() { signal(f.kick) }

// hurry asks soon for the flush of what must not wait for the interval.
func (f *flusher) hurry() { signal(f.rush) }

func signal(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}

// close flushes a last time and waits for it. Call it once.
func (f *flusher) close() {
	close(f.stop)
	<-f.done
}
