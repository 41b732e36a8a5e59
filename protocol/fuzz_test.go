package protocol

import (
	"encoding/json"
	"testing"
)

// FuzzDecoders feeds every decoder of the protocol's results values
// decoded from fuzzed JSON: each returns a value or an error, never
// panics.
func FuzzDecoders(f *testing.F) {
	f.Add([]byte(`{"data":{"t":[1,2]},"timeline":{"t":{"t":[1.5,2.5],"finalized_until":2}}}`))
	f.Add([]byte(`{"f":{"type":"string","timeline":"t","units":"K","description":7}}`))
	f.Add([]byte(`{"t":{"interval":1,"field":"f","fields":["a",1]}}`))
	f.Add([]byte(`[{"name":"n","fields":{},"timelines":{}},null,3]`))
	f.Add([]byte(`[[1e400],{"":null}]`))
	f.Fuzz(func(t *testing.T, b []byte) {
		var v any
		if json.Unmarshal(b, &v) != nil {
			return
		}
		DecodeFieldMap(v)
		DecodeTimelineMap(v)
		DecodeDataResult(v)
		DecodeNodeInfos(v)
		DecodeNodeSummaries(v)
		DecodeNodeSummary(v)
	})
}
