//go:build !linux

package backend

// background would lower the calling thread's priority; elsewhere than on
// Linux the nice value is the whole process's, so it is left alone.
func background() {}
