package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"sigs.k8s.io/yaml"

	"github.com/slipway/slipway/api/errdefs"
)

// DecodeStrict decodes one JSON value into v, rejecting unknown fields and
// trailing data. Errors are BadRequest and name the field when they can:
// prefix is the JSON path of data within the whole object ("spec").
func DecodeStrict(data []byte, v any, prefix string) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return decodeError(err, prefix)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return errdefs.BadRequestf(prefix, "unexpected data after the JSON value")
	}
	return nil
}

func decodeError(err error, prefix string) error {
	join := func(field string) string {
		switch {
		case prefix == "":
			return field
		case field == "":
			return prefix
		}
		return prefix + "." + field
	}
	var syntax *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syntax):
		return errdefs.BadRequestf(prefix, "malformed JSON at byte %d: %v", syntax.Offset, syntax)
	case errors.As(err, &typ):
		return errdefs.BadRequestf(join(typ.Field), "expected %s, got JSON %s", typ.Type, typ.Value)
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return errdefs.BadRequestf(prefix, "malformed JSON: unexpected end of input")
	}
	msg := err.Error()
	if name, ok := strings.CutPrefix(msg, "json: unknown field "); ok {
		return errdefs.BadRequestf(join(strings.Trim(name, `"`)), "unknown field (Slipway does not support it)")
	}
	return errdefs.BadRequestf(prefix, "%s", strings.TrimPrefix(msg, "json: "))
}

// MediaType is a request body encoding the API accepts.
type MediaType int

// The accepted body encodings.
const (
	MediaJSON MediaType = iota
	MediaYAML
	MediaMergePatch
)

// ParseMediaType maps a Content-Type header to a MediaType.
func ParseMediaType(contentType string) (MediaType, error) {
	mt, _, _ := strings.Cut(contentType, ";")
	switch strings.TrimSpace(strings.ToLower(mt)) {
	case "application/json", "":
		return MediaJSON, nil
	case "application/yaml", "application/x-yaml", "text/yaml":
		return MediaYAML, nil
	case "application/merge-patch+json":
		return MediaMergePatch, nil
	}
	return 0, fmt.Errorf("content type %q: %w (use application/json, application/yaml or, for PATCH, application/merge-patch+json)", contentType, errdefs.ErrUnsupportedType)
}

// ToJSON returns body as JSON, converting YAML.
func ToJSON(body []byte, mt MediaType) ([]byte, error) {
	if mt != MediaYAML {
		return body, nil
	}
	out, err := yaml.YAMLToJSON(body)
	if err != nil {
		return nil, errdefs.BadRequestf("", "malformed YAML: %v", err)
	}
	return out, nil
}

// DecodeObject strictly decodes the generic envelope of an object.
func DecodeObject(data []byte) (*Object, error) {
	var obj Object
	if err := DecodeStrict(data, &obj, ""); err != nil {
		return nil, err
	}
	return &obj, nil
}
