package images

import (
	"github.com/opencontainers/go-digest"
	"github.com/opencontainers/image-spec/specs-go"
)

func digestOf(s string) digest.Digest { return digest.Digest(s) }

func specsVersioned() specs.Versioned { return specs.Versioned{SchemaVersion: 2} }
