package sqlite

import (
	"testing"

	"github.com/telemesh/telemesh/datanodes/store/benchdata"
	"github.com/telemesh/telemesh/datanodes/store/chunk"
	"github.com/telemesh/telemesh/protocol"
)

// benchPage returns a full page of the 10 s tier of a sensor field.
func benchPage(tb testing.TB) []byte {
	blk := &chunk.Block{}
	for k := range int64(10 * pageCells) {
		blk.Times = append(blk.Times, (1764547200+k)*1e9)
		blk.Nums = append(blk.Nums, benchdata.Value(0, 1764547200+k))
	}
	b, err := encodePage(fold(nil, blk, Tiers[0].Width, true), chunk.Options{})
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

func TestPageRoundTrip(t *testing.T) {
	blk := &chunk.Block{Times: []int64{1, 5, 12}, Strs: []string{"a", "b", "c"}}
	cells := fold(nil, blk, 10, true)
	b, err := encodePage(cells, chunk.Options{})
	if err != nil {
		t.Fatal(err)
	}
	got, err := decodePage(b)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].cell != cells[0].cell || got[1].cell.Last != protocol.Str("c") || got[1].bucket != 10 {
		t.Fatalf("got %+v, want %+v", got, cells)
	}
	if _, err := decodePage(benchPage(t)); err != nil {
		t.Fatal(err)
	}
}

// BenchmarkDecodePage reports the cost of decoding one cell of a page.
func BenchmarkDecodePage(b *testing.B) {
	p := benchPage(b)
	for b.Loop() {
		if _, err := decodePage(p); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*pageCells), "ns/cell")
	b.ReportMetric(float64(len(p))/pageCells, "B/cell")
}

// BenchmarkDecodePageInto is decodePage with a query's reused buffers.
func BenchmarkDecodePageInto(b *testing.B) {
	p := benchPage(b)
	var d pageDecoder
	var cells []bucketCell
	for b.Loop() {
		var err error
		if cells, err = d.decode(cells, p); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*pageCells), "ns/cell")
}

// TestPageDecoderReuse: one pageDecoder and one cell slice, reused over
// pages of numbers, strings and bools of different sizes, give what a
// fresh decode gives each time.
func TestPageDecoderReuse(t *testing.T) {
	var pages [][]byte
	for i, blk := range []*chunk.Block{
		{Times: []int64{1, 5, 12, 31}, Strs: []string{"a", "b", "c", "d"}},
		{Times: []int64{2, 3}, Bools: []bool{true, false}},
		{Times: []int64{4, 14, 24}, Nums: []float64{1.5, -0.25, 3}},
	} {
		b, err := encodePage(fold(nil, blk, 10, true), chunk.Options{Fast: i%2 == 0})
		if err != nil {
			t.Fatal(err)
		}
		pages = append(pages, b)
	}
	pages = append(pages, benchPage(t), pages[0])
	var d pageDecoder
	var cells []bucketCell
	for i, p := range pages {
		want, err := decodePage(p)
		if err != nil {
			t.Fatal(err)
		}
		if cells, err = d.decode(cells, p); err != nil {
			t.Fatal(err)
		}
		if len(cells) != len(want) {
			t.Fatalf("page %d: %d cells, want %d", i, len(cells), len(want))
		}
		for k := range want {
			if cells[k] != want[k] {
				t.Fatalf("page %d cell %d: %+v, want %+v", i, k, cells[k], want[k])
			}
		}
		if _, err := d.decode(cells, p[:len(p)-2]); err == nil {
			t.Fatalf("page %d truncated: no error", i)
		}
	}
}
