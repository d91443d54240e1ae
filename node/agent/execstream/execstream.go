// Package execstream is the wire format of `exec` between the node agent,
// the API server's proxy and the CLI: the command's stdout and stderr are
// multiplexed on one HTTP response body as frames
//
//	[1 byte stream: 1 stdout, 2 stderr, 3 exit][4 bytes big-endian length][payload]
//
// and the last frame, on stream 3, carries the exit code in decimal. It has
// no dependencies beyond the standard library, so clients can import it
// without pulling in the agent.
package execstream

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strconv"
	"sync"
)

// Streams of a frame.
const (
	Stdout byte = 1
	Stderr byte = 2
	Exit   byte = 3
)

// MaxPayload bounds one frame's payload; Writer splits longer writes.
const MaxPayload = 1 << 20

// ErrNoExit means the stream ended before the exit frame: the command's
// outcome is unknown (the connection or the agent went away).
var ErrNoExit = errors.New("execstream: stream ended without an exit code")

// WriteFrame writes one frame.
func WriteFrame(w io.Writer, stream byte, payload []byte) error {
	if len(payload) > MaxPayload {
		return fmt.Errorf("execstream: payload of %d bytes exceeds %d", len(payload), MaxPayload)
	}
	var hdr [5]byte
	hdr[0] = stream
	binary.BigEndian.PutUint32(hdr[1:], uint32(len(payload)))
	if _, err := w.Write(hdr[:]); err != nil {
		return err
	}
	_, err := w.Write(payload)
	return err
}

// ReadFrame reads one frame. It returns io.EOF only at a frame boundary;
// a frame cut short is io.ErrUnexpectedEOF.
func ReadFrame(r io.Reader) (stream byte, payload []byte, err error) {
	var hdr [5]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return 0, nil, err
	}
	n := binary.BigEndian.Uint32(hdr[1:])
	if n > MaxPayload {
		return 0, nil, fmt.Errorf("execstream: frame of %d bytes exceeds %d", n, MaxPayload)
	}
	payload = make([]byte, n)
	if _, err := io.ReadFull(r, payload); err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return 0, nil, err
	}
	return hdr[0], payload, nil
}

// Muxer writes the frames of several streams onto one writer, one whole
// frame at a time, flushing after each when the writer can (an
// http.ResponseWriter), so output reaches the client as it is produced.
type Muxer struct {
	mu sync.Mutex
	w  io.Writer
}

// NewMuxer returns a Muxer writing to w.
func NewMuxer(w io.Writer) *Muxer { return &Muxer{w: w} }

// Stream returns a writer whose every Write becomes frames on stream.
func (m *Muxer) Stream(stream byte) io.Writer { return streamWriter{m, stream} }

// Exit writes the exit frame; nothing should follow it.
func (m *Muxer) Exit(code int) error {
	return m.write(Exit, []byte(strconv.Itoa(code)))
}

func (m *Muxer) write(stream byte, p []byte) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := WriteFrame(m.w, stream, p); err != nil {
		return err
	}
	if f, ok := m.w.(interface{ Flush() }); ok {
		f.Flush()
	}
	return nil
}

type streamWriter struct {
	m      *Muxer
	stream byte
}

func (s streamWriter) Write(p []byte) (int, error) {
	written := 0
	for len(p) > 0 {
		chunk := p[:min(len(p), MaxPayload)]
		if err := s.m.write(s.stream, chunk); err != nil {
			return written, err
		}
		written += len(chunk)
		p = p[len(chunk):]
	}
	return written, nil
}

// Decode copies the frames of r to stdout and stderr until the exit frame
// and returns the exit code. A stream that ends first gets ErrNoExit.
func Decode(r io.Reader, stdout, stderr io.Writer) (int, error) {
	for {
		stream, payload, err := ReadFrame(r)
		if errors.Is(err, io.EOF) {
			return 0, ErrNoExit
		}
		if err != nil {
			return 0, fmt.Errorf("execstream: %w", err)
		}
		switch stream {
		case Stdout, Stderr:
			w := stdout
			if stream == Stderr {
				w = stderr
			}
			if w != nil {
				if _, err := w.Write(payload); err != nil {
					return 0, fmt.Errorf("execstream: write output: %w", err)
				}
			}
		case Exit:
			code, err := strconv.Atoi(string(payload))
			if err != nil {
				return 0, fmt.Errorf("execstream: exit frame %q is not a number", payload)
			}
			return code, nil
		default:
			return 0, fmt.Errorf("execstream: unknown stream %d", stream)
		}
	}
}
