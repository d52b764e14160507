// Package repl runs grol scripts. See go.mod.
package repl

import (
	"io"

	"grol.io/grol/eval"
)

// Options are the interpreter's settings.
type Options struct {
	ShowEval    bool
	PreInput    func(*eval.State)
	HistoryFile string
	MaxHistory  int
}

// Interactive fails.
func Interactive(Options) int { return 1 }

// EvalAll fails.
func EvalAll(*eval.State, io.Reader, io.Writer, Options) []string {
	return []string{eval.ErrNotBuilt.Error()}
}
