package s3test

import "syscall"

// procAttr kills the server when the test binary dies without cleaning up.
func procAttr() *syscall.SysProcAttr { return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL} }
