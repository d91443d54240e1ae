package api

import (
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/slipway/slipway/api/errdefs"
)

// ImagesResource is the plural of Image.
const ImagesResource = "images"

// Image is one repository of Slipway's registry, in the spirit of
// OpenShift's ImageStream: its name is the repository's name within the
// project, so image "web" in project "shop" is the repository
// HOST/shop/web. The registry creates it on the first push and keeps its
// status current (every tag with the digest it points at and a short
// history); users read it, and deployments' ImageChange triggers
// ("web:latest") follow status.tags.
type Image struct {
	Kind       string      `json:"kind"`
	APIVersion string      `json:"apiVersion"`
	Metadata   ObjectMeta  `json:"metadata"`
	Spec       ImageSpec   `json:"spec"`
	Status     ImageStatus `json:"status,omitempty"`
}

// ImageRepositoryFinalizer is on every Image: the registry removes it
// once it has deleted the repository's tags, manifests and blob links
// (the blobs themselves go at the next garbage collection). Deleting an
// Image, or its project, deletes the repository.
const ImageRepositoryFinalizer = "slipway.io/registry-repository"

// ImageSpec is the user-owned part of an Image; it is empty today (an
// image is created by pushing to its repository, or by creating it empty
// before the first push).
type ImageSpec struct{}

// Validate implements Validator.
func (*ImageSpec) Validate() error { return nil }

// ImageStatus is written by the registry.
type ImageStatus struct {
	// Repository is the pullable repository, HOST/PROJECT/NAME
	// ("localhost:8443/shop/web").
	Repository string `json:"repository,omitempty"`
	// Tags are the repository's tags, sorted by tag.
	Tags []ImageTag `json:"tags,omitempty"`
}

// MaxImageTagHistory bounds ImageTag.History.
const MaxImageTagHistory = 10

// ImageTag is one tag of a repository and where it points.
type ImageTag struct {
	// Tag is the tag ("latest").
	Tag string `json:"tag"`
	// Digest is the manifest's digest, "sha256:<64 hex>".
	Digest string `json:"digest"`
	// Image is the full pullable reference by digest,
	// HOST/PROJECT/NAME@sha256:… — what a pod's image should be set to.
	Image string `json:"image"`
	// Created is when the tag was last pushed.
	Created time.Time `json:"created"`
	// History lists what the tag pointed at, newest first; History[0] is
	// the current digest. At most MaxImageTagHistory entries.
	History []ImageTagEvent `json:"history,omitempty"`
}

// ImageTagEvent is one past value of a tag.
type ImageTagEvent struct {
	Digest  string    `json:"digest"`
	Image   string    `json:"image"`
	Created time.Time `json:"created"`
}

// Tag returns the entry of tag, or nil.
func (s *ImageStatus) Tag(tag string) *ImageTag {
	for i := range s.Tags {
		if s.Tags[i].Tag == tag {
			return &s.Tags[i]
		}
	}
	return nil
}

var (
	// imageTagRE is the distribution spec's tag grammar.
	imageTagRE = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$`)
	// sha256DigestRE is the only digest algorithm Slipway's registry uses.
	sha256DigestRE = regexp.MustCompile(`^sha256:[a-f0-9]{64}$`)
)

// ValidateImageTag checks a tag against the distribution spec's grammar.
func ValidateImageTag(field, tag string) error {
	if !imageTagRE.MatchString(tag) {
		return errdefs.Invalidf(field, "%q is not a valid tag ([A-Za-z0-9_][A-Za-z0-9._-]{0,127})", tag)
	}
	return nil
}

// ValidateImageDigest checks a "sha256:<64 lower-case hex>" digest.
func ValidateImageDigest(field, digest string) error {
	if !sha256DigestRE.MatchString(digest) {
		return errdefs.Invalidf(field, "%q is not a sha256 digest (sha256:<64 hex digits>)", digest)
	}
	return nil
}

// Validate implements Validator.
func (s *ImageStatus) Validate() error {
	seen := map[string]bool{}
	for i, t := range s.Tags {
		f := fmt.Sprintf("status.tags[%d]", i)
		if err := ValidateImageTag(f+".tag", t.Tag); err != nil {
			return err
		}
		if seen[t.Tag] {
			return errdefs.Invalidf(f+".tag", "duplicate tag %q", t.Tag)
		}
		seen[t.Tag] = true
		if err := ValidateImageDigest(f+".digest", t.Digest); err != nil {
			return err
		}
		if !strings.HasSuffix(t.Image, "@"+t.Digest) {
			return errdefs.Invalidf(f+".image", "must end with @%s", t.Digest)
		}
		if len(t.History) > MaxImageTagHistory {
			return errdefs.Invalidf(f+".history", "at most %d entries", MaxImageTagHistory)
		}
		for j, h := range t.History {
			if err := ValidateImageDigest(fmt.Sprintf("%s.history[%d].digest", f, j), h.Digest); err != nil {
				return err
			}
		}
	}
	return nil
}

func imageResource() *Resource {
	return &Resource{Plural: ImagesResource, Kind: "Image", Scope: ProjectScoped, HasStatus: true,
		Finalizers: []string{ImageRepositoryFinalizer},
		validateSpec: func(o *Object) error {
			if err := forbid(o.Data, "data", "Image"); err != nil {
				return err
			}
			return strictField[ImageSpec](o.Spec, "spec")
		},
		validateStatus: func(o *Object) error { return strictField[ImageStatus](o.Status, "status") }}
}
