//go:build tools

// Package tools pins the test-only server binaries smartmaint's tests build
// and run (see docs/REGISTRY.md). It is a separate module so that their
// dependencies never enter the main go.mod.
package tools

import _ "github.com/versity/versitygw/cmd/versitygw"
