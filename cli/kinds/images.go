package kinds

import (
	"strings"
	"time"

	"github.com/slipway/slipway/api"
)

func init() {
	extras[api.ImagesResource] = Kind{ShortNames: []string{"img", "is"},
		Columns: []Column{{"TAGS", imageTags}, {"DIGEST", imageDigest}},
		Wide:    []Column{text("REPOSITORY", "status", "repository")}}
}

// imageTags lists the tags, in the status' (lexical) order.
func imageTags(o *Object, _ time.Time) string {
	var out []string
	for _, t := range items(o, "status", "tags") {
		if s, _ := t["tag"].(string); s != "" {
			out = append(out, s)
		}
	}
	if len(out) == 0 {
		return "<none>"
	}
	return strings.Join(out, ",")
}

// imageDigest is the digest of tag latest, else of the most recently
// pushed tag, shortened as "sha256:" and 12 hex digits.
func imageDigest(o *Object, _ time.Time) string {
	var digest, newest string
	for _, t := range items(o, "status", "tags") {
		d, _ := t["digest"].(string)
		created, _ := t["created"].(string) // RFC 3339 in UTC sorts as text
		if t["tag"] == "latest" {
			digest = d
			break
		}
		if created >= newest {
			digest, newest = d, created
		}
	}
	if digest == "" {
		return "<none>"
	}
	if len(digest) > len("sha256:")+12 {
		digest = digest[:len("sha256:")+12]
	}
	return digest
}
