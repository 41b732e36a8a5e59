package consumers_test

import (
	"context"
	"fmt"
	"time"

	"github.com/telemesh/telemesh/consumers"
	"github.com/telemesh/telemesh/protocol"
	"github.com/telemesh/telemesh/wampx"
)

// Reading the last hour of a field, downsampled to at most 500 points
// that keep spikes.
func ExampleClient_GetSeries() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cl, err := consumers.Dial(ctx, consumers.Config{Router: wampx.Config{URL: "ws://127.0.0.1:8080/ws"}})
	if err != nil {
		fmt.Println(err)
		return
	}
	ss, err := cl.GetSeries(ctx, "lab1", consumers.Query{
		Fields: []string{"temperature"}, Start: -3600, End: 0, MaxPoints: 500, Agg: protocol.AggMinMax,
	})
	if err != nil {
		// A *protocol.Error: protocol.KindOf(err) says what went wrong.
		fmt.Println(err)
		return
	}
	s := ss[0]
	for i, t := range s.Times {
		fmt.Println(time.Unix(0, t).UTC(), s.Values.Nums[i])
	}
}
