package router

import (
	"encoding/base64"
	"errors"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strings"

	"github.com/gammazero/nexus/v3/transport/serialize"
	"github.com/gammazero/nexus/v3/wamp"
)

// codec is a nexus serializer made safe for hostile bytes and consistent
// for binary payloads: decoding never panics, and on JSON it converts
// between the WAMP binary string form ("\x00" + base64) and []byte, which
// msgpack and CBOR carry natively, so binary crosses every serializer pair
// as binary (as crossbar does).
type codec struct {
	ser  serialize.Serializer
	json bool
	// passthru keeps the arguments of a YIELD as bytes and writes raw
	// payloads back verbatim (see passthru.go).
	passthru bool
}

func newCodec(name string) (*codec, bool) {
	switch name {
	case "json":
		return &codec{ser: &serialize.JSONSerializer{}, json: true}, true
	case "msgpack":
		return &codec{ser: &serialize.MessagePackSerializer{}, passthru: true}, true
	case "cbor":
		return &codec{ser: &serialize.CBORSerializer{}}, true
	}
	return nil, false
}

// errDecode marks bytes that are not a WAMP message.
var errDecode = errors.New("undecodable message")

// decode turns bytes into a message. A panic of the decoder (nexus's
// field conversion panics on some shapes, such as a map with a nil key)
// is an error like any other.
func (c *codec) decode(b []byte) (wamp.Message, error) {
	if c.passthru {
		if m, ok := c.decodeYieldRaw(b); ok {
			return m, nil
		}
	}
	m, err := c.decodeList(b)
	if err != nil {
		return nil, err
	}
	if c.json {
		if args, kw := payload(m); args != nil {
			*args, _ = fromJSONBinary(*args).(wamp.List)
			*kw, _ = fromJSONBinary(*kw).(wamp.Dict)
		}
	}
	return m, nil
}

// decodeList decodes bytes as a list and builds a message from it.
func (c *codec) decodeList(b []byte) (m wamp.Message, err error) {
	defer func() {
		if r := recover(); r != nil {
			m, err = nil, fmt.Errorf("%w: %v", errDecode, r)
		}
	}()
	var v []any
	if err := c.ser.DeserializeDataItem(b, &v); err != nil {
		return nil, fmt.Errorf("%w: %v", errDecode, err)
	}
	if m, err = listToMessage(v); err != nil {
		return nil, fmt.Errorf("%w: %v", errDecode, err)
	}
	return m, nil
}

// listToMessage builds a message from its list form strictly, unlike
// nexus, which converts numbers to strings (a procedure 42 becomes "*")
// and panics on some shapes: IDs must be integers in [1, 2^53], URIs and
// strings strings, dictionaries maps and lists lists, and every field
// but the trailing optional ones must be present.
func listToMessage(v []any) (wamp.Message, error) {
	if len(v) == 0 {
		return nil, errors.New("empty message")
	}
	typ, ok := wamp.AsInt64(v[0])
	if !ok {
		return nil, fmt.Errorf("message type %v is not an integer", v[0])
	}
	m := wamp.NewMessage(wamp.MessageType(typ))
	if m == nil {
		return nil, fmt.Errorf("unknown message type %d", typ)
	}
	rv := reflect.ValueOf(m).Elem()
	rt := rv.Type()
	if len(v)-1 > rv.NumField() {
		return nil, fmt.Errorf("%v has %d elements, at most %d", m.MessageType(), len(v), rv.NumField()+1)
	}
	for i := range rv.NumField() {
		f, name := rv.Field(i), rt.Field(i).Name
		if i+1 >= len(v) {
			if !strings.Contains(rt.Field(i).Tag.Get("wamp"), "omitempty") {
				return nil, fmt.Errorf("%v lacks its %s", m.MessageType(), name)
			}
			continue
		}
		e := v[i+1]
		bad := func(want string) error {
			return fmt.Errorf("%v %s must be %s, not %T", m.MessageType(), name, want, e)
		}
		switch f.Kind() {
		case reflect.Uint64:
			id, ok := wamp.AsID(e)
			if !ok {
				return nil, bad("an ID (an integer from 1 to 2^53)")
			}
			f.SetUint(uint64(id))
		case reflect.Int:
			n, ok := wamp.AsInt64(e)
			if !ok {
				return nil, bad("an integer")
			}
			f.SetInt(n)
		case reflect.String:
			switch e := e.(type) {
			case string:
				f.SetString(e)
			case []byte:
				f.SetString(string(e))
			default:
				return nil, bad("a string")
			}
		case reflect.Map:
			if e == nil {
				continue
			}
			d, ok := wamp.AsDict(e)
			if !ok {
				return nil, bad("a dictionary")
			}
			f.Set(reflect.ValueOf(d))
		case reflect.Slice:
			if e == nil {
				continue
			}
			l, ok := wamp.AsList(e)
			if !ok {
				return nil, bad("a list")
			}
			f.Set(reflect.ValueOf(l))
		default:
			return nil, fmt.Errorf("%v %s: unsupported field kind %v", m.MessageType(), name, f.Kind())
		}
	}
	return m, nil
}

// decodeHead decodes bytes that decode could not turn into a message as a
// plain list and returns its message type and request ID, when present,
// and whether its options ask for an acknowledgement, so that a malformed
// request can be answered with an ERROR.
func (c *codec) decodeHead(b []byte) (typ wamp.MessageType, req wamp.ID, ack, ok bool) {
	defer func() {
		if recover() != nil {
			ok = false
		}
	}()
	var v []any
	if c.ser.DeserializeDataItem(b, &v) != nil || len(v) < 2 {
		return 0, 0, false, false
	}
	t, ok1 := wamp.AsInt64(v[0])
	id, ok2 := wamp.AsID(v[1])
	if len(v) > 2 {
		opts, _ := wamp.AsDict(v[2])
		ack, _ = opts[wamp.OptAcknowledge].(bool)
	}
	return wamp.MessageType(t), id, ack, ok1 && ok2
}

// encode serializes a message; on JSON, []byte payloads become binary
// strings. A raw payload is written verbatim on msgpack and decoded for
// the others. The message itself is never changed: nexus sends one EVENT
// value to every subscriber.
func (c *codec) encode(m wamp.Message) (b []byte, err error) {
	defer func() {
		if r := recover(); r != nil {
			b, err = nil, fmt.Errorf("serializing %v: %v", m.MessageType(), r)
		}
	}()
	if r := rawOf(m); r != nil {
		if c.passthru {
			return c.encodeRaw(m, r)
		}
		if m, err = expand(m); err != nil {
			return nil, err
		}
	}
	if c.json {
		m = jsonBinaryCopy(m)
	}
	return c.ser.Serialize(m)
}

// payload returns pointers to a message's arguments, or nils for messages
// without a payload.
func payload(m wamp.Message) (*wamp.List, *wamp.Dict) {
	switch m := m.(type) {
	case *wamp.Call:
		return &m.Arguments, &m.ArgumentsKw
	case *wamp.Result:
		return &m.Arguments, &m.ArgumentsKw
	case *wamp.Invocation:
		return &m.Arguments, &m.ArgumentsKw
	case *wamp.Yield:
		return &m.Arguments, &m.ArgumentsKw
	case *wamp.Publish:
		return &m.Arguments, &m.ArgumentsKw
	case *wamp.Event:
		return &m.Arguments, &m.ArgumentsKw
	case *wamp.Error:
		return &m.Arguments, &m.ArgumentsKw
	}
	return nil, nil
}

// jsonBinaryCopy returns m, or a shallow copy of m whose payload has its
// []byte values replaced by binary strings.
func jsonBinaryCopy(m wamp.Message) wamp.Message {
	args, kw := payload(m)
	if args == nil || (!hasBytes(*args) && !hasBytes(*kw)) {
		return m
	}
	var c wamp.Message
	switch m := m.(type) {
	case *wamp.Call:
		c = shallow(m)
	case *wamp.Result:
		c = shallow(m)
	case *wamp.Invocation:
		c = shallow(m)
	case *wamp.Yield:
		c = shallow(m)
	case *wamp.Publish:
		c = shallow(m)
	case *wamp.Event:
		c = shallow(m)
	case *wamp.Error:
		c = shallow(m)
	}
	a, k := payload(c)
	*a, _ = toJSONBinary(*a).(wamp.List)
	*k, _ = toJSONBinary(*k).(wamp.Dict)
	return c
}

// shallow returns a copy of *m.
func shallow[T any](m *T) *T {
	x := *m
	return &x
}

func hasBytes(v any) bool {
	switch v := v.(type) {
	case []byte:
		return true
	case wamp.List:
		for _, e := range v {
			if hasBytes(e) {
				return true
			}
		}
	case []any:
		return hasBytes(wamp.List(v))
	case wamp.Dict:
		for _, e := range v {
			if hasBytes(e) {
				return true
			}
		}
	case map[string]any:
		return hasBytes(wamp.Dict(v))
	}
	return false
}

// toJSONBinary returns a copy of v with []byte values as binary strings.
func toJSONBinary(v any) any {
	switch v := v.(type) {
	case []byte:
		return "\x00" + base64.StdEncoding.EncodeToString(v)
	case wamp.List:
		return wamp.List(mapList(v, toJSONBinary))
	case []any:
		return mapList(v, toJSONBinary)
	case wamp.Dict:
		return wamp.Dict(mapDict(v, toJSONBinary))
	case map[string]any:
		return mapDict(v, toJSONBinary)
	}
	return v
}

// fromJSONBinary returns v with binary strings replaced by their bytes,
// changing lists and maps in place. A string that starts with NUL but is
// not valid base64 stays a string.
func fromJSONBinary(v any) any {
	switch v := v.(type) {
	case string:
		if strings.HasPrefix(v, "\x00") {
			if b, err := base64.StdEncoding.DecodeString(v[1:]); err == nil {
				return b
			}
		}
	case wamp.List:
		return wamp.List(mapListInPlace(v, fromJSONBinary))
	case []any:
		return mapListInPlace(v, fromJSONBinary)
	case wamp.Dict:
		return wamp.Dict(mapDictInPlace(v, fromJSONBinary))
	case map[string]any:
		return mapDictInPlace(v, fromJSONBinary)
	}
	return v
}

func mapList(l []any, f func(any) any) []any {
	if l == nil {
		return nil
	}
	return mapListInPlace(slices.Clone(l), f)
}

func mapListInPlace(l []any, f func(any) any) []any {
	for i, e := range l {
		l[i] = f(e)
	}
	return l
}

func mapDict(d map[string]any, f func(any) any) map[string]any {
	if d == nil {
		return nil
	}
	return mapDictInPlace(maps.Clone(d), f)
}

func mapDictInPlace(d map[string]any, f func(any) any) map[string]any {
	for k, e := range d {
		d[k] = f(e)
	}
	return d
}
