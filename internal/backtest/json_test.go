package backtest

import (
	"encoding/json"
	"testing"
)

// jsonRoundTrip marshals report, unmarshals the JSON into into and returns
// it, failing the test on either error.
func jsonRoundTrip(t *testing.T, report any, into any) []byte {
	t.Helper()
	b, err := json.Marshal(report)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, into); err != nil {
		t.Fatal(err)
	}
	return b
}
