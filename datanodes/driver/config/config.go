// Package config holds small pieces the drivers share: field metadata,
// value parsing, epoch timestamps in a configured or detected unit
// (TimeUnit), field-name sanitising, retry backoff and context-aware
// sleeping.
//
// Durations in driver YAML blocks need no helper: yaml.v3 decodes strings
// such as "10s" into time.Duration fields.
package config

import (
	"context"
	"strconv"
	"strings"
	"time"
)

// Sanitize turns s into a valid field-name part: characters outside
// A-Z a-z 0-9 _ . : - become '_', runs of '_' collapse, and the result is
// cut to 128 bytes. An empty result becomes "_".
func Sanitize(s string) string {
	var b strings.Builder
	last := byte(0)
	for i := 0; i < len(s); i++ {
		c := s[i]
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == ':' || c == '-' || c == '_'
		if !ok {
			c = '_'
		}
		if c == '_' && last == '_' {
			continue
		}
		b.WriteByte(c)
		last = c
	}
	out := strings.Trim(b.String(), "_")
	if len(out) > 128 {
		out = out[:128]
	}
	if out == "" {
		return "_"
	}
	return out
}

// Sleep waits for d or until ctx ends, reporting whether the full
// duration passed.
func Sleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// Backoff is a doubling retry delay between Min and Max. The zero value
// uses 1s and 1m.
type Backoff struct {
	Min, Max time.Duration
	cur      time.Duration
}

// Next returns the delay before the next retry and doubles it.
func (b *Backoff) Next() time.Duration {
	lo, hi := b.Min, b.Max
	if lo <= 0 {
		lo = time.Second
	}
	if hi < lo {
		hi = max(lo, time.Minute)
	}
	if b.cur < lo {
		b.cur = lo
	}
	d := b.cur
	b.cur = min(b.cur*2, hi)
	return d
}

// Reset starts the delays over after a success.
func (b *Backoff) Reset() { b.cur = 0 }

// FieldMeta is a field's units and description as drivers take them from
// their YAML blocks.
type FieldMeta struct {
	Units       string `yaml:"units"`
	Description string `yaml:"description"`
}

// Scalar reads a text value as a float64 when it parses as a number, as a
// bool when it is "true" or "false", and as the string itself otherwise.
func Scalar(s string) any {
	if f, err := strconv.ParseFloat(s, 64); err == nil {
		return f
	}
	switch s {
	case "true":
		return true
	case "false":
		return false
	}
	return s
}
