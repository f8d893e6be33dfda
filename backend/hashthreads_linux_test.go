package backend

import (
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// niceOf reads a thread's nice value from /proc (field 19 of its stat).
func niceOf(t *testing.T, tid int) int {
	t.Helper()
	b, err := os.ReadFile("/proc/self/task/" + strconv.Itoa(tid) + "/stat")
	if err != nil {
		t.Fatal(err)
	}
	// The command name, in parentheses, may hold spaces: count after it.
	fields := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
	n, err := strconv.Atoi(fields[16])
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// A hash runs on a thread of lower priority than the server's, and the
// caller's own thread keeps its priority.
func TestHashThreads_RunBelowTheServersPriority(t *testing.T) {
	hashThreads.ensure(2)
	var tid, nice int
	hashThreads.run(func() {
		tid = syscall.Gettid()
		nice = niceOf(t, tid)
	})
	if nice != hashNice {
		t.Errorf("the hashing thread's nice value is %d, want %d", nice, hashNice)
	}
	if tid == syscall.Gettid() {
		t.Errorf("the hash ran on the caller's thread")
	}
	if own := niceOf(t, syscall.Gettid()); own != 0 {
		t.Errorf("the caller's thread has nice %d, want 0", own)
	}
}

// A panic while hashing reaches the caller, where the connection's handler
// recovers it, and the thread goes on hashing.
func TestHashThreads_PanicReachesTheCaller(t *testing.T) {
	hashThreads.ensure(1)
	func() {
		defer func() {
			if r := recover(); r != "hash failed" {
				t.Errorf("recovered %v, want the hash's panic", r)
			}
		}()
		hashThreads.run(func() { panic("hash failed") })
		t.Error("run returned after a panic")
	}()
	ran := false
	hashThreads.run(func() { ran = true })
	if !ran {
		t.Error("no hash ran after the panic")
	}
}
