package protocol

import (
	"fmt"
	"math"
	"reflect"
	"sort"
)

// The NaN rule: a number column marks a missing value with NaN, a null on
// the wire. A reading is a value, so NaN is never a reading: the data node
// refuses NaN and infinite readings, stores never hold them, and a null a
// result carries (a field without a value at a time its timeline shares
// with other fields) decodes as NaN in a number column.

// Value is one field value, unboxed. The zero Value (no Type) is a missing
// value.
type Value struct {
	Type string // TypeNumber, TypeString or TypeBool; "" when missing
	Num  float64
	Str  string
	Bool bool
}

// Num returns a number value.
func Num(f float64) Value { return Value{Type: TypeNumber, Num: f} }

// Str returns a string value.
func Str(s string) Value { return Value{Type: TypeString, Str: s} }

// Bool returns a bool value.
func Bool(b bool) Value { return Value{Type: TypeBool, Bool: b} }

// Missing reports whether v holds no value: the zero Value, or a NaN number.
func (v Value) Missing() bool {
	return v.Type == "" || (v.Type == TypeNumber && math.IsNaN(v.Num))
}

// Any returns v boxed as a float64, string or bool, or nil when missing.
func (v Value) Any() any {
	if v.Missing() {
		return nil
	}
	switch v.Type {
	case TypeString:
		return v.Str
	case TypeBool:
		return v.Bool
	}
	return v.Num
}

// Float returns v as a number for plotting: a number as it is, a bool as 0
// or 1. Strings and missing values are not numbers.
func (v Value) Float() (float64, bool) {
	switch {
	case v.Missing():
		return math.NaN(), false
	case v.Type == TypeNumber:
		return v.Num, true
	case v.Type == TypeBool:
		if v.Bool {
			return 1, true
		}
		return 0, true
	}
	return math.NaN(), false
}

// AsNumber converts any Go number type to a float64; bools and everything
// else are not numbers. It is the one number coercion of the vocabulary.
func AsNumber(v any) (float64, bool) {
	switch x := v.(type) {
	case float64:
		return x, true
	case int64:
		return float64(x), true
	case int:
		return float64(x), true
	case uint64:
		return float64(x), true
	}
	rv := reflect.ValueOf(v)
	switch rv.Kind() {
	case reflect.Float32, reflect.Float64:
		return rv.Float(), true
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return float64(rv.Int()), true
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return float64(rv.Uint()), true
	}
	return 0, false
}

// ValueOf converts a boxed value: any Go number becomes a number, a string
// or bool stays what it is, nil is a missing value. Anything else is an
// InvalidArgument error.
func ValueOf(v any) (Value, error) {
	switch x := v.(type) {
	case nil:
		return Value{}, nil
	case string:
		return Str(x), nil
	case bool:
		return Bool(x), nil
	}
	if f, ok := AsNumber(v); ok {
		return Num(f), nil
	}
	return Value{}, Errorf(InvalidArgument, "unsupported value %v of type %T (want a number, string or bool)", v, v)
}

// Values is a column of values of one type: numbers as []float64, strings
// and bools apart. Only the slice of its Type is used.
type Values struct {
	Type  string // TypeNumber, TypeString, TypeBool, or "" while every value is missing
	Nums  []float64
	Strs  []string
	Bools []bool
	// Missing marks the missing values of a string or bool column, and
	// counts those of a column of no type yet; nil when none is missing.
	// A number column marks them with NaN instead.
	Missing []bool
}

// Numbers returns a number column holding xs (not copied).
func Numbers(xs ...float64) Values { return Values{Type: TypeNumber, Nums: xs} }

// Strings returns a string column holding xs (not copied).
func Strings(xs ...string) Values { return Values{Type: TypeString, Strs: xs} }

// Bools returns a bool column holding xs (not copied).
func Bools(xs ...bool) Values { return Values{Type: TypeBool, Bools: xs} }

// ValuesOf converts boxed values into a column, as ValueOf does each.
func ValuesOf(xs ...any) (Values, error) {
	var vs Values
	for i, x := range xs {
		v, err := ValueOf(x)
		if err == nil {
			err = vs.Append(v)
		}
		if err != nil {
			return Values{}, fmt.Errorf("value %d: %w", i, err)
		}
	}
	return vs, nil
}

// Len returns the number of values.
func (vs Values) Len() int {
	switch vs.Type {
	case TypeNumber:
		return len(vs.Nums)
	case TypeString:
		return len(vs.Strs)
	case TypeBool:
		return len(vs.Bools)
	}
	return len(vs.Missing)
}

// At returns value i.
func (vs Values) At(i int) Value {
	if vs.Missing != nil && vs.Missing[i] {
		return Value{}
	}
	switch vs.Type {
	case TypeNumber:
		return Num(vs.Nums[i])
	case TypeString:
		return Str(vs.Strs[i])
	case TypeBool:
		return Bool(vs.Bools[i])
	}
	return Value{}
}

// Append appends v. A missing value may go into any column; a value of
// another type than the column's is an InvalidArgument error.
func (vs *Values) Append(v Value) error {
	if v.Missing() {
		vs.appendMissing()
		return nil
	}
	if vs.Type == "" {
		vs.adopt(v.Type)
	} else if v.Type != vs.Type {
		return Errorf(InvalidArgument, "a %s value in a column of %ss", v.Type, vs.Type)
	}
	switch v.Type {
	case TypeNumber:
		vs.Nums = append(vs.Nums, v.Num)
	case TypeString:
		vs.Strs = append(vs.Strs, v.Str)
	case TypeBool:
		vs.Bools = append(vs.Bools, v.Bool)
	default:
		return Errorf(InvalidArgument, "unknown value type %q", v.Type)
	}
	if vs.Missing != nil {
		vs.Missing = append(vs.Missing, false)
	}
	return nil
}

func (vs *Values) appendMissing() {
	switch vs.Type {
	case TypeNumber:
		vs.Nums = append(vs.Nums, math.NaN())
		return
	case TypeString:
		vs.Strs = append(vs.Strs, "")
	case TypeBool:
		vs.Bools = append(vs.Bools, false)
	default:
		vs.Missing = append(vs.Missing, true)
		return
	}
	if vs.Missing == nil {
		vs.Missing = make([]bool, vs.Len()-1, vs.Len())
	}
	vs.Missing = append(vs.Missing, true)
}

// adopt gives a column of only missing values its type.
func (vs *Values) adopt(typ string) {
	n := len(vs.Missing)
	vs.Type = typ
	switch typ {
	case TypeNumber:
		vs.Nums = make([]float64, n)
		for i := range n {
			vs.Nums[i] = math.NaN()
		}
		vs.Missing = nil
	case TypeString:
		vs.Strs = make([]string, n)
	case TypeBool:
		vs.Bools = make([]bool, n)
	}
}

// Slice returns values [lo, hi), sharing memory with vs.
func (vs Values) Slice(lo, hi int) Values {
	out := Values{Type: vs.Type}
	switch vs.Type {
	case TypeNumber:
		out.Nums = vs.Nums[lo:hi]
	case TypeString:
		out.Strs = vs.Strs[lo:hi]
	case TypeBool:
		out.Bools = vs.Bools[lo:hi]
	}
	if vs.Missing != nil {
		out.Missing = vs.Missing[lo:hi]
	}
	return out
}

// Clone returns a copy of vs that shares no memory with it.
func (vs Values) Clone() Values {
	out := Values{Type: vs.Type}
	out.Nums = cloneSlice(vs.Nums)
	out.Strs = cloneSlice(vs.Strs)
	out.Bools = cloneSlice(vs.Bools)
	out.Missing = cloneSlice(vs.Missing)
	return out
}

func cloneSlice[T any](s []T) []T {
	if s == nil {
		return nil
	}
	return append(make([]T, 0, len(s)), s...)
}

// Concat appends the values of o, which must be of the same type as vs
// or have none. An empty vs takes o itself, sharing its memory.
func (vs *Values) Concat(o Values) error {
	if o.Len() == 0 {
		return nil
	}
	if vs.Len() == 0 {
		*vs = o
		return nil
	}
	if vs.Type == o.Type && vs.Missing == nil && o.Missing == nil {
		vs.Nums = append(vs.Nums, o.Nums...)
		vs.Strs = append(vs.Strs, o.Strs...)
		vs.Bools = append(vs.Bools, o.Bools...)
		return nil
	}
	for i := range o.Len() {
		if err := vs.Append(o.At(i)); err != nil {
			return err
		}
	}
	return nil
}

// Wire returns the column as a get_data result carries it: the typed slice
// itself when no value is missing, else a list with null where one is.
func (vs Values) Wire() any {
	n := vs.Len()
	switch {
	case vs.Type == TypeNumber && !hasNaN(vs.Nums):
		return vs.Nums
	case vs.Type == TypeString && vs.Missing == nil:
		return vs.Strs
	case vs.Type == TypeBool && vs.Missing == nil:
		return vs.Bools
	}
	out := make([]any, n)
	for i := range out {
		out[i] = vs.At(i).Any()
	}
	return out
}

func hasNaN(xs []float64) bool {
	for _, x := range xs {
		if x != x {
			return true
		}
	}
	return false
}

// Series is the values of one field on its timeline: Times[i] is the time
// of value i. It is the one in-memory shape of data from the store to the
// panel.
type Series struct {
	Field    string
	Timeline string  // the field's timeline; "" when not known
	Times    []int64 // nanoseconds since the UNIX epoch, ascending
	Values   Values
}

// Len returns the number of points.
func (s Series) Len() int { return len(s.Times) }

// CheckReadings checks a series to be stored: a valid field name, as many
// values as times, and every value present and finite (NaN is never a
// reading).
func (s Series) CheckReadings() error {
	if err := CheckFieldName(s.Field); err != nil {
		return err
	}
	if n := s.Values.Len(); n != len(s.Times) {
		return Errorf(InvalidArgument, "field %s: %d times but %d values", s.Field, len(s.Times), n)
	}
	switch s.Values.Type {
	case TypeNumber:
		for i, x := range s.Values.Nums {
			if math.IsNaN(x) || math.IsInf(x, 0) {
				return Errorf(InvalidArgument, "field %s: value %v at %d is not finite", s.Field, x, s.Times[i])
			}
		}
	case TypeString, TypeBool:
		if s.Values.Missing != nil {
			for i, m := range s.Values.Missing {
				if m {
					return Errorf(InvalidArgument, "field %s: missing value at %d", s.Field, s.Times[i])
				}
			}
		}
	default:
		if len(s.Times) > 0 {
			return Errorf(InvalidArgument, "field %s: values of unknown type %q", s.Field, s.Values.Type)
		}
	}
	return nil
}

// Reading is one sample of one field as a driver measures it. Value is any
// Go number, a bool or a string, matching the field's type; the node turns
// readings into typed Series once (Columns).
type Reading struct {
	Field string
	// Time is nanoseconds since the UNIX epoch, UTC.
	Time  int64
	Value any
}

// Columns groups readings into one Series per field, in order of first
// appearance, each sorted by time (stably: of readings at one time the last
// one stays last). Values are converted as ValueOf does; a nil value, a
// value of an unsupported type or a field mixing types is an
// InvalidArgument error.
func Columns(rs []Reading) ([]Series, error) {
	idx := map[string]int{}
	var out []Series
	for _, r := range rs {
		i, ok := idx[r.Field]
		if !ok {
			i = len(out)
			idx[r.Field] = i
			out = append(out, Series{Field: r.Field})
		}
		v, err := ValueOf(r.Value)
		if err == nil && v.Type == "" {
			err = Errorf(InvalidArgument, "no value")
		}
		if err == nil {
			err = out[i].Values.Append(v)
		}
		if err != nil {
			return nil, fmt.Errorf("field %s: %w", r.Field, err)
		}
		out[i].Times = append(out[i].Times, r.Time)
	}
	for i := range out {
		out[i].sortByTime()
	}
	return out, nil
}

// sortByTime sorts s's points by time, stably; already sorted (the usual
// case) costs one pass.
func (s *Series) sortByTime() {
	sorted := true
	for i := 1; i < len(s.Times); i++ {
		if s.Times[i] < s.Times[i-1] {
			sorted = false
			break
		}
	}
	if sorted {
		return
	}
	idx := make([]int, len(s.Times))
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(a, b int) bool { return s.Times[idx[a]] < s.Times[idx[b]] })
	ts := make([]int64, len(idx))
	var vs Values
	for k, i := range idx {
		ts[k] = s.Times[i]
		_ = vs.Append(s.Values.At(i)) // same type as s.Values
	}
	s.Times, s.Values = ts, vs
}
