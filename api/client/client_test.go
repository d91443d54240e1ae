package client

import (
	"testing"

	"github.com/slipway/slipway/api"
)

func TestDecodeEvent(t *testing.T) {
	tests := []struct {
		name, line string
		wantType   api.EventType
		wantObject string
		wantErr    bool
	}{
		{"server shape", `{"type":"ADDED","object":{"kind":"Project","metadata":{"name":"a"}}}`, api.Added, `{"kind":"Project","metadata":{"name":"a"}}`, false},
		{"other member order", `{"object":{"x":1},"type":"DELETED"}`, api.Deleted, `{"x":1}`, false},
		{"spaces", `{ "type": "MODIFIED", "object": {"x": 1} }`, api.Modified, `{"x": 1}`, false},
		{"malformed", `{"type":"ADDED","object":`, "", "", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ev, err := decodeEvent([]byte(tc.line))
			if tc.wantErr {
				if err == nil {
					t.Fatalf("no error for %s", tc.line)
				}
				return
			}
			if err != nil || ev.Type != tc.wantType || string(ev.Object) != tc.wantObject {
				t.Fatalf("got %s %s, %v", ev.Type, ev.Object, err)
			}
		})
	}
}
