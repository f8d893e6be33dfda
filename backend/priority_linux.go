package backend

import "syscall"

// background lowers the calling thread's scheduling priority: on Linux the
// nice value belongs to the thread, not to the process.
func background() {
	syscall.Setpriority(syscall.PRIO_PROCESS, syscall.Gettid(), 10)
}
