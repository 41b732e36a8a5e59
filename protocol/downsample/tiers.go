package downsample

// TierWidths are the rollup widths a data node's store keeps, in
// nanoseconds, finest first: 10 s, 1 min, 10 min, 1 h and 1 d. A width
// that is a multiple of one is answered from that tier's cells.
var TierWidths = []int64{10e9, 60e9, 600e9, 3600e9, 86400e9}

// minCells is how many cells of a tier a bucket spans at least before
// widths snap to that tier: rounding up to a multiple of a quarter of w
// widens it by less than 25 %.
const minCells = 4

// Snap rounds a width up to a multiple of the largest tier width that is
// at most a quarter of it; widths under 40 s stay as they are. Rounding
// up keeps a width's promise of at most a number of buckets.
func Snap(w int64) int64 {
	var step int64
	for _, t := range TierWidths {
		if t*minCells <= w {
			step = t
		}
	}
	return RoundUp(w, step)
}
