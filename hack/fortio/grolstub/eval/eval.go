// Package eval has the interpreter state that fortio's grol glue names. See go.mod.
package eval

import (
	"context"
	"errors"
	"fmt"

	"grol.io/grol/object"
)

// ErrNotBuilt is what every entry point returns.
var ErrNotBuilt = errors.New("grol scripting is not in this build of fortio (Skiff builds it with a stand-in for grol.io/grol)")

// Terminal is the interactive terminal.
type Terminal struct{}

// Suspend does nothing.
func (t *Terminal) Suspend() {}

// Resume does nothing.
func (t *Terminal) Resume(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithCancel(ctx)
}

// State is an interpreter's state.
type State struct {
	Term    *Terminal
	Context context.Context
	Cancel  context.CancelFunc
}

// NewState returns an empty state.
func NewState() *State { return &State{} }

// Error wraps an error as a value.
func (s *State) Error(err error) object.Object { return object.String{Value: err.Error()} }

// Errorf formats an error as a value.
func (s *State) Errorf(format string, args ...any) object.Object {
	return s.Error(fmt.Errorf(format, args...))
}

// EvalString fails.
func EvalString(*State, string, bool) (object.Object, error) { return nil, ErrNotBuilt }
