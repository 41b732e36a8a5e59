package protocol

import (
	"errors"
	"fmt"
)

// Kind is an error kind that crosses the wire as a WAMP error URI. The set
// is append-only: kinds are never renamed, since clients match on the URI.
type Kind string

// The error kinds of the protocol. Each maps to B.error.<kind>.
const (
	InvalidArgument Kind = "invalid_argument"
	UnknownField    Kind = "unknown_field"
	TooMuchData     Kind = "too_much_data"
	NotAuthorized   Kind = "not_authorized"
	NoSuchNode      Kind = "no_such_node"
	Unavailable     Kind = "unavailable"
	Internal        Kind = "internal"
)

// Kinds lists every error kind, in the order of the table above.
var Kinds = []Kind{InvalidArgument, UnknownField, TooMuchData, NotAuthorized, NoSuchNode, Unavailable, Internal}

// Error is an error of a known kind with a human sentence, and optional
// details sent as WAMP keyword arguments.
type Error struct {
	Kind    Kind
	Message string
	Details map[string]any
	Err     error
}

func (e *Error) Error() string {
	if e.Err != nil && e.Message == "" {
		return string(e.Kind) + ": " + e.Err.Error()
	}
	return e.Message
}

func (e *Error) Unwrap() error { return e.Err }

// Is makes errors.Is(err, &Error{Kind: k}) match any error of kind k.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Message == "" && t.Err == nil && t.Kind == e.Kind
}

// Errorf returns an Error of kind k with a formatted message.
func Errorf(k Kind, format string, args ...any) *Error {
	return &Error{Kind: k, Message: fmt.Sprintf(format, args...)}
}

// KindOf returns the kind of err, or Internal when err carries none.
func KindOf(err error) Kind {
	var e *Error
	if errors.As(err, &e) {
		return e.Kind
	}
	return Internal
}

// IsKind reports whether err is an Error of kind k.
func IsKind(err error, k Kind) bool { return KindOf(err) == k }

// KindFromURI returns the kind whose URI under base equals uri.
func KindFromURI(n Names, uri string) (Kind, bool) {
	for _, k := range Kinds {
		if n.ErrorURI(k) == uri {
			return k, true
		}
	}
	return "", false
}
