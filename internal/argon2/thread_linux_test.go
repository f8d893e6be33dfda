package argon2

import (
	"os"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// threadCPU is the CPU time of the calling thread, in clock ticks (utime
// and stime, fields 14 and 15 of its stat).
func threadCPU(t *testing.T) int {
	t.Helper()
	b, err := os.ReadFile("/proc/self/task/" + strconv.Itoa(syscall.Gettid()) + "/stat")
	if err != nil {
		t.Fatal(err)
	}
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
	u, err1 := strconv.Atoi(f[11])
	s, err2 := strconv.Atoi(f[12])
	if err1 != nil || err2 != nil {
		t.Fatalf("stat: %v %v", err1, err2)
	}
	return u + s
}

// A derivation with one lane runs on the caller's thread, where the server
// has lowered the priority, not on goroutines the scheduler puts on any
// thread.
func TestOneLaneRunsOnTheCallersThread(t *testing.T) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	var ru syscall.Rusage
	before, self := threadCPU(t), 0
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	all := ru.Utime.Nano() + ru.Stime.Nano()
	// Long enough for the clock ticks the kernel counts in.
	IDKey([]byte("password"), []byte("somesalt"), 6, 64*1024, 1, 32)
	self = threadCPU(t) - before
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	all = ru.Utime.Nano() + ru.Stime.Nano() - all
	// Ticks are 10 ms (USER_HZ 100).
	selfNanos := int64(self) * 10_000_000
	if selfNanos*2 < all {
		t.Errorf("the calling thread used %d ms of the derivation's %d ms", selfNanos/1e6, all/1e6)
	}
}
