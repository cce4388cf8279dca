//go:build !linux

package main

import "syscall"

// sysProcAttr: elsewhere than on Linux the children keep the demo's process
// group (Pdeathsig and a portable Setpgid are Linux-only or Unix-only); the
// terminal's Ctrl-C then reaches them too, and the demo still stops them.
func sysProcAttr() *syscall.SysProcAttr {
	return nil
}
