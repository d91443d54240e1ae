package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	k8sjson "sigs.k8s.io/json"
	"sigs.k8s.io/yaml"

	"github.com/slipway/slipway/api/errdefs"
)

// DecodeStrict decodes one JSON value into v the way Kubernetes does:
// field names match case-sensitively, and unknown fields, duplicate fields
// and trailing data are rejected. Errors are BadRequest and name the field
// when they can: prefix is the JSON path of data within the whole object
// ("spec").
func DecodeStrict(data []byte, v any, prefix string) error {
	strict, err := k8sjson.UnmarshalStrict(data, v)
	if err != nil {
		return decodeError(err, prefix)
	}
	if len(strict) > 0 {
		var fe k8sjson.FieldError
		if errors.As(strict[0], &fe) {
			msg := strict[0].Error()
			reason := "unknown field (Slipway does not support it)"
			if strings.Contains(msg, "duplicate field") {
				reason = "duplicate field"
			}
			return errdefs.BadRequestf(joinPath(prefix, fe.FieldPath()), "%s", reason)
		}
		return errdefs.BadRequestf(prefix, "%v", strict[0])
	}
	return nil
}

func joinPath(prefix, field string) string {
	switch {
	case prefix == "":
		return field
	case field == "":
		return prefix
	}
	return prefix + "." + field
}

func decodeError(err error, prefix string) error {
	var typ *json.UnmarshalTypeError
	if ok, offset := k8sjson.SyntaxErrorOffset(err); ok {
		return errdefs.BadRequestf(prefix, "malformed JSON at byte %d: %s", offset, strings.TrimPrefix(err.Error(), "json: "))
	}
	if errors.As(err, &typ) {
		return errdefs.BadRequestf(joinPath(prefix, typ.Field), "expected %s, got JSON %s", typ.Type, typ.Value)
	}
	msg := strings.TrimPrefix(err.Error(), "json: ")
	if strings.Contains(msg, "unexpected end of JSON input") {
		return errdefs.BadRequestf(prefix, "malformed JSON: unexpected end of input")
	}
	return errdefs.BadRequestf(prefix, "%s", msg)
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
