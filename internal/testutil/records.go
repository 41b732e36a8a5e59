package testutil

import (
	"encoding/binary"
	"os"
	"testing"
)

// Records reads a golden file of length-prefixed records: each a uvarint
// length and that many bytes, as the storage goldens are written.
func Records(t testing.TB, path string) [][]byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out [][]byte
	for len(b) > 0 {
		n, k := binary.Uvarint(b)
		if k <= 0 || n > uint64(len(b)-k) {
			t.Fatalf("%s: malformed record %d", path, len(out))
		}
		out = append(out, b[k:k+int(n)])
		b = b[k+int(n):]
	}
	return out
}
