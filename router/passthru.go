package router

import (
	"bytes"
	"fmt"
	"sync"

	"github.com/gammazero/nexus/v3/transport/serialize"
	"github.com/gammazero/nexus/v3/wamp"
)

// Pass-through of call results. A YIELD from a msgpack peer has its header
// decoded but its arguments kept as the bytes they came in: the dealer
// copies them into the RESULT, and the codec of a msgpack caller writes
// them back verbatim, so a large result is neither decoded into values nor
// encoded again. Whoever needs the values (a caller of another serializer,
// an in-process session) gets them decoded from the bytes by expand.
//
// The raw bytes travel as the only element of the message's Arguments,
// a *rawPayload, with ArgumentsKw nil; nothing but this file creates or
// reads that form.

// rawPayload is the arguments of a message as msgpack bytes: args is one
// encoded list, kw one encoded map or empty.
type rawPayload struct {
	args, kw []byte

	once sync.Once
	list wamp.List
	dict wamp.Dict
	err  error
}

// values decodes the payload, once; it is safe for concurrent use.
func (r *rawPayload) values() (wamp.List, wamp.Dict, error) {
	r.once.Do(func() { r.list, r.dict, r.err = decodeRawPayload(r.args, r.kw) })
	return r.list, r.dict, r.err
}

// decodeRawPayload decodes the elements as the whole message would have
// been decoded: each as a value of its own, then as a list or a map.
func decodeRawPayload(args, kw []byte) (l wamp.List, d wamp.Dict, err error) {
	defer func() {
		if r := recover(); r != nil {
			l, d, err = nil, nil, fmt.Errorf("%w: arguments: %v", errDecode, r)
		}
	}()
	ser := &serialize.MessagePackSerializer{}
	var v any
	if err := ser.DeserializeDataItem(args, &v); err != nil {
		return nil, nil, fmt.Errorf("%w: arguments: %v", errDecode, err)
	}
	l, ok := wamp.AsList(v)
	if !ok {
		return nil, nil, fmt.Errorf("%w: arguments are %T, not a list", errDecode, v)
	}
	if len(kw) == 0 {
		return l, nil, nil
	}
	v = nil
	if err := ser.DeserializeDataItem(kw, &v); err != nil {
		return nil, nil, fmt.Errorf("%w: keyword arguments: %v", errDecode, err)
	}
	if d, ok = wamp.AsDict(v); !ok {
		return nil, nil, fmt.Errorf("%w: keyword arguments are %T, not a dictionary", errDecode, v)
	}
	return l, d, nil
}

// rawOf returns the raw payload a message carries, or nil.
func rawOf(m wamp.Message) *rawPayload {
	var args wamp.List
	var kw wamp.Dict
	switch m := m.(type) {
	case *wamp.Yield:
		args, kw = m.Arguments, m.ArgumentsKw
	case *wamp.Result:
		args, kw = m.Arguments, m.ArgumentsKw
	default:
		return nil
	}
	if len(args) != 1 || kw != nil {
		return nil
	}
	r, _ := args[0].(*rawPayload)
	return r
}

// expand returns m, or a copy of m whose raw payload is decoded into
// values. The message itself is never changed.
func expand(m wamp.Message) (wamp.Message, error) {
	r := rawOf(m)
	if r == nil {
		return m, nil
	}
	l, d, err := r.values()
	if err != nil {
		return nil, fmt.Errorf("%v: %w", m.MessageType(), err)
	}
	switch m := m.(type) {
	case *wamp.Yield:
		c := shallow(m)
		c.Arguments, c.ArgumentsKw = l, d
		return c, nil
	case *wamp.Result:
		c := shallow(m)
		c.Arguments, c.ArgumentsKw = l, d
		return c, nil
	}
	return m, nil
}

// headerLen is the number of elements of a YIELD or RESULT before its
// arguments: type, request and options or details.
const headerLen = 3

// decodeYieldRaw decodes a msgpack YIELD with arguments, keeping them raw.
// It returns false for anything else, and for anything its strict reading
// does not take (other types, extensions, maps with keys that are not
// strings, deep nesting, malformed bytes, trailing bytes): the full
// decoder then reads the message as before, errors included.
func (c *codec) decodeYieldRaw(b []byte) (wamp.Message, bool) {
	if len(b) < 2 || b[0] < 0x90|(headerLen+1) || b[0] > 0x90|(headerLen+2) || b[1] != byte(wamp.YIELD) {
		return nil, false
	}
	n := int(b[0] & 0x0f)
	offs := make([]int, 0, 6)
	off := 1
	for range n {
		offs = append(offs, off)
		var ok bool
		if off, ok = skipValue(b, off, 0); !ok {
			return nil, false
		}
	}
	if off != len(b) {
		return nil, false
	}
	offs = append(offs, off)
	args := b[offs[headerLen]:offs[headerLen+1]]
	if !isArray(args[0]) {
		return nil, false
	}
	var kw []byte
	if n == headerLen+2 {
		kw = b[offs[headerLen+1]:offs[headerLen+2]]
		if !isMap(kw[0]) {
			return nil, false
		}
	}
	hdr := make([]byte, 0, offs[headerLen])
	hdr = append(append(hdr, 0x90|headerLen), b[1:offs[headerLen]]...)
	m, err := c.decodeList(hdr)
	if err != nil {
		return nil, false
	}
	y, ok := m.(*wamp.Yield)
	if !ok {
		return nil, false
	}
	y.Arguments = wamp.List{&rawPayload{args: args, kw: kw}}
	return y, true
}

// encodeRaw encodes a message with a raw payload for a msgpack peer: its
// header as usual, then the payload's bytes as they came.
func (c *codec) encodeRaw(m wamp.Message, r *rawPayload) ([]byte, error) {
	var h wamp.Message
	switch m := m.(type) {
	case *wamp.Result:
		c := shallow(m)
		c.Arguments = nil
		h = c
	case *wamp.Yield:
		c := shallow(m)
		c.Arguments = nil
		h = c
	}
	hb, err := c.ser.Serialize(h)
	if err != nil {
		return nil, err
	}
	if len(hb) == 0 || hb[0] != 0x90|headerLen {
		return nil, fmt.Errorf("serializing %v: unexpected header %x", m.MessageType(), hb[:min(len(hb), 1)])
	}
	n := headerLen + 1
	if len(r.kw) > 0 {
		n++
	}
	out := make([]byte, 0, len(hb)+len(r.args)+len(r.kw))
	out = append(out, 0x90|byte(n))
	out = append(out, hb[1:]...)
	out = append(out, r.args...)
	return append(out, r.kw...), nil
}

func isArray(t byte) bool { return t&0xf0 == 0x90 || t == 0xdc || t == 0xdd }
func isMap(t byte) bool   { return t&0xf0 == 0x80 || t == 0xde || t == 0xdf }
func isStr(t byte) bool   { return t&0xe0 == 0xa0 || t == 0xd9 || t == 0xda || t == 0xdb }

// maxRawDepth bounds the nesting skipValue follows; deeper payloads are
// left to the full decoder.
const maxRawDepth = 64

// skipValue returns the offset just past the msgpack value at off, and
// whether it is one the pass-through takes: nil, booleans, numbers,
// strings, binaries, and lists and maps (with string keys) of those.
func skipValue(b []byte, off, depth int) (int, bool) {
	if off >= len(b) || depth > maxRawDepth {
		return 0, false
	}
	t := b[off]
	off++
	switch {
	case t <= 0x7f || t >= 0xe0: // fixint
		return off, true
	case t <= 0x8f: // fixmap
		return skipMap(b, off, int(t&0x0f), depth)
	case t <= 0x9f: // fixarray
		return skipArray(b, off, int(t&0x0f), depth)
	case t <= 0xbf: // fixstr
		return skipBytes(b, off, int(t&0x1f))
	}
	switch t {
	case 0xc0, 0xc2, 0xc3: // nil, false, true
		return off, true
	case 0xcc, 0xd0:
		return skipBytes(b, off, 1)
	case 0xcd, 0xd1:
		return skipBytes(b, off, 2)
	case 0xca, 0xce, 0xd2:
		return skipBytes(b, off, 4)
	case 0xcb, 0xcf, 0xd3:
		return skipBytes(b, off, 8)
	case 0xc4, 0xc5, 0xc6, 0xd9, 0xda, 0xdb: // bin8/16/32, str8/16/32
		size := 1 << (t - 0xc4) // 1, 2 or 4 length bytes
		if t >= 0xd9 {
			size = 1 << (t - 0xd9)
		}
		n, off, ok := length(b, off, size)
		if !ok {
			return 0, false
		}
		return skipBytes(b, off, n)
	case 0xdc, 0xdd: // array16, array32
		n, off, ok := length(b, off, 2+2*int(t-0xdc))
		if !ok {
			return 0, false
		}
		return skipArray(b, off, n, depth)
	case 0xde, 0xdf: // map16, map32
		n, off, ok := length(b, off, 2+2*int(t-0xde))
		if !ok {
			return 0, false
		}
		return skipMap(b, off, n, depth)
	}
	return 0, false // 0xc1 (never used) and extensions
}

// length reads a big-endian length of size bytes at off.
func length(b []byte, off, size int) (int, int, bool) {
	if len(b)-off < size {
		return 0, 0, false
	}
	n := 0
	for _, c := range b[off : off+size] {
		n = n<<8 | int(c)
	}
	return n, off + size, true
}

func skipBytes(b []byte, off, n int) (int, bool) {
	if n < 0 || len(b)-off < n {
		return 0, false
	}
	return off + n, true
}

func skipArray(b []byte, off, n, depth int) (int, bool) {
	if n > len(b)-off { // every element takes a byte at least
		return 0, false
	}
	for range n {
		var ok bool
		if off, ok = skipValue(b, off, depth+1); !ok {
			return 0, false
		}
	}
	return off, true
}

// skipMap skips a map of n entries at off. A map that names a key twice
// is not taken: decoders disagree on which value wins, so the full
// decoder reads it and the caller gets one key with one value, the same
// for every serializer, rather than bytes each client reads its own way.
func skipMap(b []byte, off, n, depth int) (int, bool) {
	if n > (len(b)-off)/2 {
		return 0, false
	}
	// The keys seen (slices of b); past smallMap entries, a set.
	const smallMap = 16
	var keys [smallMap][]byte
	var seen map[string]struct{}
	for i := range n {
		if off >= len(b) || !isStr(b[off]) {
			return 0, false
		}
		start := off
		var ok bool
		if off, ok = skipValue(b, off, depth+1); !ok {
			return 0, false
		}
		key := strContent(b, start, off)
		switch {
		case i < smallMap:
			for _, k := range keys[:i] {
				if bytes.Equal(k, key) {
					return 0, false
				}
			}
			keys[i] = key
		default:
			if seen == nil {
				seen = make(map[string]struct{}, n)
				for _, k := range keys {
					seen[string(k)] = struct{}{}
				}
			}
			if _, dup := seen[string(key)]; dup {
				return 0, false
			}
			seen[string(key)] = struct{}{}
		}
		if off, ok = skipValue(b, off, depth+1); !ok {
			return 0, false
		}
	}
	return off, true
}

// strContent returns the bytes of the string encoded in b[start:end],
// without its header (fixstr, str8, str16 or str32).
func strContent(b []byte, start, end int) []byte {
	hdr := 1
	switch b[start] {
	case 0xd9:
		hdr = 2
	case 0xda:
		hdr = 3
	case 0xdb:
		hdr = 5
	}
	return b[start+hdr : end]
}
