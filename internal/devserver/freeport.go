// Adapted from github.com/temporalio/cli internal/devserver (MIT licence,
// Copyright (c) 2022 Temporal Technologies Inc.).

package devserver

import (
	"fmt"
	"net"
)

// FreePort returns a TCP port on host that is free to listen on.
//
// It binds port 0, then connects to it and closes the connection from the
// server side so the port stays in TIME_WAIT: Linux will not hand the same
// ephemeral port out again for a while, yet an explicit bind still works.
func FreePort(host string) (int, error) {
	l, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		return 0, fmt.Errorf("devserver: free port: %w", err)
	}
	defer l.Close()
	port := l.Addr().(*net.TCPAddr).Port
	r, err := net.Dial("tcp", net.JoinHostPort(host, fmt.Sprint(port)))
	if err != nil {
		return 0, fmt.Errorf("devserver: free port: %w", err)
	}
	defer r.Close()
	c, err := l.Accept()
	if err != nil {
		return 0, fmt.Errorf("devserver: free port: %w", err)
	}
	c.Close()
	return port, nil
}

// PortFree reports an error when host:port cannot be listened on.
func PortFree(host string, port int) error {
	l, err := net.Listen("tcp", net.JoinHostPort(host, fmt.Sprint(port)))
	if err != nil {
		return err
	}
	return l.Close()
}
