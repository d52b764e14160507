// Package extensions registers Go functions for grol. See go.mod.
package extensions

import (
	"grol.io/grol/eval"
	"grol.io/grol/object"
)

// Config selects the built-in extensions.
type Config struct {
	HasLoad           bool
	HasSave           bool
	UnrestrictedIOs   bool
	LoadSaveEmptyOnly bool
}

// Init fails, which makes `fortio script` stop with eval.ErrNotBuilt before
// it reads a script.
func Init(*Config) error { return eval.ErrNotBuilt }

// MustCreate does nothing.
func MustCreate(object.Extension) {}
