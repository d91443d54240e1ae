package execstream

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
)

func TestRoundTrip(t *testing.T) {
	tests := []struct {
		name              string
		write             func(m *Muxer)
		wantOut, wantErr  string
		wantCode          int
		wantErrIs         error
		truncate, garbage bool
	}{
		{name: "stdout and exit 0", write: func(m *Muxer) { io.WriteString(m.Stream(Stdout), "hello\n"); m.Exit(0) }, wantOut: "hello\n"},
		{name: "both streams, exit 3", write: func(m *Muxer) {
			io.WriteString(m.Stream(Stdout), "a")
			io.WriteString(m.Stream(Stderr), "oops")
			io.WriteString(m.Stream(Stdout), "b")
			m.Exit(3)
		}, wantOut: "ab", wantErr: "oops", wantCode: 3},
		{name: "large write is split", write: func(m *Muxer) {
			m.Stream(Stdout).Write(bytes.Repeat([]byte("x"), MaxPayload+10))
			m.Exit(0)
		}, wantOut: strings.Repeat("x", MaxPayload+10)},
		{name: "no exit frame", write: func(m *Muxer) { io.WriteString(m.Stream(Stdout), "x") }, wantOut: "x", wantErrIs: ErrNoExit},
		{name: "cut frame", write: func(m *Muxer) { io.WriteString(m.Stream(Stdout), "xyz"); m.Exit(0) }, truncate: true, wantErrIs: io.ErrUnexpectedEOF},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			tc.write(NewMuxer(&buf))
			data := buf.Bytes()
			if tc.truncate {
				data = data[:7]
			}
			var out, errOut bytes.Buffer
			code, err := Decode(bytes.NewReader(data), &out, &errOut)
			if tc.wantErrIs != nil {
				if !errors.Is(err, tc.wantErrIs) {
					t.Fatalf("err %v, want %v", err, tc.wantErrIs)
				}
				return
			}
			if err != nil || code != tc.wantCode || out.String() != tc.wantOut || errOut.String() != tc.wantErr {
				t.Fatalf("got code %d err %v out %.20q stderr %q", code, err, out.String(), errOut.String())
			}
		})
	}
}
