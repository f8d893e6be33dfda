//go:build !linux

package backend

// lowerPriority would lower the calling thread's priority; elsewhere than
// on Linux the nice value is the whole process's, so it is left alone.
func lowerPriority(int) {}
