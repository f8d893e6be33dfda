//go:build unix

package main

import (
	"io/fs"
	"os"
	"syscall"
)

// fileOwner is the owner of a file, for a restored file to keep it.
func fileOwner(st fs.FileInfo) (uid, gid int, ok bool) {
	s, ok := st.Sys().(*syscall.Stat_t)
	if !ok {
		return 0, 0, false
	}
	return int(s.Uid), int(s.Gid), true
}

func dirOwner(dir string) (uid, gid int, ok bool) {
	st, err := os.Stat(dir)
	if err != nil {
		return 0, 0, false
	}
	return fileOwner(st)
}
