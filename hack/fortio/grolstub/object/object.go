// Package object has the value types that fortio's grol glue names. See go.mod.
package object

import (
	"errors"
	"io"
)

// Type names a grol value type.
type Type uint8

// The types fortio declares as extension arguments.
const (
	UNKNOWN Type = iota
	STRING
	MAP
)

// Object is a grol value.
type Object interface{ Inspect() string }

// String is a grol string.
type String struct{ Value string }

// Inspect returns the value.
func (s String) Inspect() string { return s.Value }

// Integer is a grol integer.
type Integer struct{ Value int64 }

// Inspect returns nothing useful; no script ever runs in this build.
func (i Integer) Inspect() string { return "" }

// Boolean is a grol boolean.
type Boolean struct{ Value bool }

// Inspect returns nothing useful; no script ever runs in this build.
func (b Boolean) Inspect() string { return "" }

// TRUE is grol's true.
var TRUE Object = Boolean{Value: true}

// Map is a grol map; this build never makes one.
type Map struct{}

// Inspect returns nothing useful; no script ever runs in this build.
func (m Map) Inspect() string { return "" }

// Get finds nothing.
func (m Map) Get(Object) (Object, bool) { return nil, false }

// JSON fails: there is never a map to encode.
func (m Map) JSON(io.Writer) error { return errors.New("grol is not in this build of fortio") }

// MakeQuad returns an empty map.
func MakeQuad(_, _, _, _ Object) Object { return Map{} }

// Extension describes a Go function callable from grol.
type Extension struct {
	Name      string
	MinArgs   int
	MaxArgs   int
	Help      string
	ArgTypes  []Type
	Callback  func(env any, name string, args []Object) Object
	DontCache bool
}
