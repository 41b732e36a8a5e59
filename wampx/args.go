package wampx

import (
	"fmt"
	"math"

	"github.com/gammazero/nexus/v3/wamp"
	"github.com/telemesh/telemesh/protocol"
)

// Float decodes a finite number from a WAMP argument of any numeric type.
func Float(name string, v any) (float64, error) {
	f, ok := protocol.AsNumber(v)
	if !ok {
		return 0, protocol.Errorf(protocol.InvalidArgument, "%s must be a number, got %s", name, typeName(v))
	}
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return 0, protocol.Errorf(protocol.InvalidArgument, "%s must be finite, got %v", name, f)
	}
	return f, nil
}

// Int decodes an integer from a WAMP argument; a float must be integral.
func Int(name string, v any) (int64, error) {
	switch v.(type) {
	case float64, float32:
	default:
		if i, ok := wamp.AsInt64(v); ok {
			return i, nil
		}
	}
	f, err := Float(name, v)
	if err != nil {
		return 0, err
	}
	if f != math.Trunc(f) || math.Abs(f) > 1<<53 {
		return 0, protocol.Errorf(protocol.InvalidArgument, "%s must be an integer, got %v", name, f)
	}
	return int64(f), nil
}

// String decodes a string from a WAMP argument.
func String(name string, v any) (string, error) {
	s, ok := wamp.AsString(v)
	if !ok {
		return "", protocol.Errorf(protocol.InvalidArgument, "%s must be a string, got %s", name, typeName(v))
	}
	return s, nil
}

// Strings decodes a list of strings from a WAMP argument.
func Strings(name string, v any) ([]string, error) {
	l, ok := wamp.AsList(v)
	if !ok {
		if ss, ok := v.([]string); ok {
			return ss, nil
		}
		return nil, protocol.Errorf(protocol.InvalidArgument, "%s must be a list of strings, got %s", name, typeName(v))
	}
	out := make([]string, len(l))
	for i, e := range l {
		s, ok := wamp.AsString(e)
		if !ok {
			return nil, protocol.Errorf(protocol.InvalidArgument, "%s[%d] must be a string, got %s", name, i, typeName(e))
		}
		out[i] = s
	}
	return out, nil
}

func typeName(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case string:
		return "a string"
	case bool:
		return "a bool"
	case wamp.List, []any:
		return "a list"
	case wamp.Dict, map[string]any:
		return "a map"
	}
	return fmt.Sprintf("%T", v)
}
