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
func ExampleClient_GetData() {
	n := protocol.DefaultNames()
	dial, err := wampx.Config{URL: "ws://127.0.0.1:8080/ws", Realm: n.Realm}.Dialer(nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cl := consumers.New(dial, n, nil)
	go cl.Run(ctx)
	if err := cl.Ready(ctx); err != nil {
		fmt.Println(err)
		return
	}
	res, err := cl.GetData(ctx, "lab1", consumers.Query{
		Fields: []string{"temperature"}, Start: -3600, End: 0, MaxPoints: 500, Agg: protocol.AggMinMax,
	})
	if err != nil {
		// A *protocol.Error: protocol.KindOf(err) says what went wrong.
		fmt.Println(err)
		return
	}
	fmt.Println(res.Data["temperature"].Len(), "points")
}
