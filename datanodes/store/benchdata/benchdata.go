// Package benchdata generates the data set the storage benchmarks use, so
// the store's Go benchmarks, `telemesh bench` and the side-by-side run
// against other databases measure the same readings: ten fields at 1 Hz,
// f0 to f8 sensor-like (20 + 5·sin(2πt/1d + φ) + 0.5·sin(2πt/7d + φ) plus
// noise of σ 0.02, the sum of four uniforms, quantised to 0.001, a 1 mK
// sensor) and f9 step-like integers from 15 to 25 that change every 10
// minutes.
package benchdata

import (
	"fmt"
	"math"
)

// Fields is the number of fields of the data set.
const Fields = 10

// StepField is the index of the step-like field.
const StepField = 9

// Name returns the name of field i.
func Name(i int) string { return fmt.Sprintf("f%d", i) }

// Value returns field i's value at unix second sec.
func Value(i int, sec int64) float64 {
	if i == StepField {
		k := uint64(sec / 600)
		return float64(15 + mix(k, 99)%11)
	}
	ph := 2 * math.Pi * float64(mix(uint64(i), 7)%1000) / 1000
	t := float64(sec)
	v := 20 + 5*math.Sin(2*math.Pi*t/86400+ph) + 0.5*math.Sin(2*math.Pi*t/(7*86400)+ph)
	// The sum of four uniforms on [-a, a] has variance 4a²/3: a = 0.02·√3/2.
	const a = 0.017320508075688773
	var u float64
	for j := range uint64(4) {
		u += (float64(mix(uint64(sec)*8+j, uint64(i))>>11)/(1<<53))*2 - 1
	}
	v += a * u
	return math.Round(v*1000) / 1000
}

// mix is a splitmix64-style hash of its arguments.
func mix(x, salt uint64) uint64 {
	x = x*0x9E3779B97F4A7C15 ^ salt*0xBF58476D1CE4E5B9
	x ^= x >> 30
	x *= 0xBF58476D1CE4E5B9
	x ^= x >> 27
	x *= 0x94D049BB133111EB
	x ^= x >> 31
	return x
}
