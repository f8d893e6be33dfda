package backend

import "syscall"

// lowerPriority sets the calling thread's nice value (a higher one is a
// lower priority): on Linux the nice value belongs to the thread, not to
// the process. Without privileges it can only be raised, never lowered
// again: the caller keeps the thread locked to itself.
func lowerPriority(nice int) {
	syscall.Setpriority(syscall.PRIO_PROCESS, syscall.Gettid(), nice)
}
