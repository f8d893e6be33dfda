package backend

import (
	"runtime"
	"sync"
)

// Password hashes run on threads of their own, at a lower priority than the
// rest of the server (Linux: nice 5). A hash is milliseconds of CPU; when
// wrong passwords arrive faster than the machine hashes them, the kernel
// still runs lookups and app-password binds first, so a flood of
// password guesses slows password sign-ins (which queue for a slot and,
// past limits.bind_timeout, get busy) instead of the mail server's
// lookups. When the machine is not full, the priority changes nothing.
//
// Every hash goes through the same threads, whatever the account or the
// outcome, so timing still says nothing about either. The threads are
// shared by every Service of the process and never end; there are as many
// as the most hash slots a Service has asked for.
var hashThreads = &threadPool{jobs: make(chan func())}

type threadPool struct {
	mu      sync.Mutex
	threads int
	jobs    chan func()
}

// hashNice is the nice value of the hashing threads: below the server's
// (0), above the background writer's (10), so that a hash still gets about
// a quarter of a CPU that lookups keep busy.
const hashNice = 5

// ensure starts threads until there are n.
func (p *threadPool) ensure(n int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for ; p.threads < n; p.threads++ {
		go func() {
			// The thread is never unlocked: its priority cannot be raised
			// again without privileges, so no other goroutine may run on it.
			runtime.LockOSThread()
			lowerPriority(hashNice)
			for f := range p.jobs {
				f()
			}
		}()
	}
}

// run calls f on one of the threads and returns when it has. A panic in f
// is raised again in the caller, where the connection's handler recovers it.
func (p *threadPool) run(f func()) {
	var failure any
	done := make(chan struct{})
	p.jobs <- func() {
		defer close(done)
		defer func() { failure = recover() }()
		f()
	}
	<-done
	if failure != nil {
		panic(failure)
	}
}
