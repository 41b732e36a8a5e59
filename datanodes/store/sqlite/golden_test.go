package sqlite

import (
	"encoding/binary"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/telemesh/telemesh/datanodes/store/benchdata"
	"github.com/telemesh/telemesh/datanodes/store/chunk"
)

// goldenPages are the cells of the golden page file: two pages of each
// tier of a bench sensor field and of its step field, and a page of
// strings and one of bools.
func goldenPages() [][]bucketCell {
	var out [][]bucketCell
	for _, field := range []int{2, benchdata.StepField} {
		blk := &chunk.Block{}
		for s := int64(1764547200); s < 1764547200+3*86400; s++ {
			blk.Times = append(blk.Times, s*1e9)
			blk.Nums = append(blk.Nums, benchdata.Value(field, s))
		}
		var cells []bucketCell
		for i, t := range Tiers {
			cells = fold(cells, blk, t.Width, i == 0)
			for lo := 0; lo < len(cells) && lo < 2*pageCells; lo += pageCells {
				out = append(out, cells[lo:min(lo+pageCells, len(cells))])
			}
		}
	}
	strs := &chunk.Block{Times: []int64{1e18, 1e18 + 7e9, 1e18 + 61e9, 1e18 + 3600e9}, Strs: []string{"idle", "run", "", "ünï"}}
	bools := &chunk.Block{Times: []int64{1e18, 1e18 + 1, 1e18 + 11e9}, Bools: []bool{true, false, true}}
	out = append(out, fold(nil, strs, Tiers[1].Width, true), fold(nil, bools, Tiers[0].Width, true))
	return out
}

// TestGoldenPagesFormat1 decodes rollup pages as the first schema 2
// release wrote them (testdata/format1.pages: each of goldenPages as a
// uvarint length and its encodePage bytes).
func TestGoldenPagesFormat1(t *testing.T) {
	path := filepath.Join("testdata", "format1.pages")
	pages := goldenPages()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	i := 0
	for ; len(b) > 0; i++ {
		n, k := binary.Uvarint(b)
		if k <= 0 || n > uint64(len(b)-k) {
			t.Fatal("malformed golden file")
		}
		got, err := decodePage(b[k : k+int(n)])
		b = b[k+int(n):]
		if err != nil {
			t.Fatalf("page %d: %v", i, err)
		}
		if i >= len(pages) || !reflect.DeepEqual(got, pages[i]) {
			t.Fatalf("page %d differs", i)
		}
	}
	if i != len(pages) {
		t.Fatalf("%d golden pages, want %d", i, len(pages))
	}
}

// TestPageSize: rollup pages of a bench sensor field cost about the
// entropy of their columns (format 1: 6.44 B a 10 s cell, 7.32 B a
// minute cell).
func TestPageSize(t *testing.T) {
	blk := &chunk.Block{}
	for s := int64(1764547200); s < 1764547200+86400; s++ {
		blk.Times = append(blk.Times, s*1e9)
		blk.Nums = append(blk.Nums, benchdata.Value(0, s))
	}
	var cells []bucketCell
	for i, want := range []float64{5.5, 6.5} {
		cells = fold(cells, blk, Tiers[i].Width, i == 0)
		size := 0
		for lo := 0; lo < len(cells); lo += pageCells {
			b, err := encodePage(cells[lo:min(lo+pageCells, len(cells))], chunk.Options{})
			if err != nil {
				t.Fatal(err)
			}
			size += len(b)
		}
		if per := float64(size) / float64(len(cells)); per > want {
			t.Errorf("%s tier: %.2f B a cell, want at most %.1f", Tiers[i].Name, per, want)
		}
	}
}
