//go:build !unix

package main

import "io/fs"

func fileOwner(fs.FileInfo) (uid, gid int, ok bool) { return 0, 0, false }
func dirOwner(string) (uid, gid int, ok bool)       { return 0, 0, false }
