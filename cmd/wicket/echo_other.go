//go:build !linux

package main

// disableEcho leaves echo to term.ReadPassword, which turns it off just
// after the prompt shows: only what is typed within that instant is echoed.
func disableEcho(int) error { return nil }
