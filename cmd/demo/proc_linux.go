package main

import "syscall"

// sysProcAttr puts a child in its own process group (the terminal's Ctrl-C
// reaches the demo only, which stops the children in order) and has the
// kernel send it SIGTERM if the demo itself dies without stopping it.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
}
