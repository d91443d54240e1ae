package registry

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/slipway/slipway/api"
	"github.com/slipway/slipway/server/store"
)

func digest(c byte) string { return "sha256:" + strings.Repeat(string(c), 64) }

func digestN(i int) string { return fmt.Sprintf("sha256:%064x", i) }

func TestParseManifest(t *testing.T) {
	cfg, l1, l2 := digest('a'), digest('b'), digest('c')
	image := fmt.Sprintf(`{"schemaVersion":2,"mediaType":%q,"config":{"mediaType":"x","digest":%q,"size":2},
		"layers":[{"digest":%q,"size":1},{"digest":%q,"size":1,"urls":["https://example.com/l"]}]}`, MediaTypeOCIManifest, cfg, l1, l2)
	index := fmt.Sprintf(`{"schemaVersion":2,"mediaType":%q,"manifests":[{"digest":%q,"size":9}]}`, MediaTypeOCIIndex, l1)
	tests := []struct {
		name, contentType, body string
		wantType                string
		wantBlobs, wantChildren []string
		wantCode                string
	}{
		{name: "oci image", contentType: MediaTypeOCIManifest, body: image, wantType: MediaTypeOCIManifest, wantBlobs: []string{cfg, l1}},
		{name: "media type from the body", contentType: "application/json", body: image, wantType: MediaTypeOCIManifest, wantBlobs: []string{cfg, l1}},
		{name: "oci index", contentType: MediaTypeOCIIndex, body: index, wantType: MediaTypeOCIIndex, wantChildren: []string{l1}},
		{name: "docker v2", contentType: MediaTypeDockerManifest, body: strings.Replace(image, `"mediaType":"`+MediaTypeOCIManifest+`"`, `"mediaType":"`+MediaTypeDockerManifest+`"`, 1),
			wantType: MediaTypeDockerManifest, wantBlobs: []string{cfg, l1}},
		{name: "type mismatch", contentType: MediaTypeDockerManifest, body: image, wantCode: codeManifestInvalid},
		{name: "schema 1", contentType: "application/vnd.docker.distribution.manifest.v1+json", body: `{"schemaVersion":1}`, wantCode: codeManifestInvalid},
		{name: "not json", contentType: MediaTypeOCIManifest, body: `{`, wantCode: codeManifestInvalid},
		{name: "no config", contentType: MediaTypeOCIManifest, body: `{"schemaVersion":2,"layers":[]}`, wantCode: codeManifestInvalid},
		{name: "bad layer digest", contentType: MediaTypeOCIManifest, body: fmt.Sprintf(`{"schemaVersion":2,"config":{"digest":%q},"layers":[{"digest":"md5:x"}]}`, cfg), wantCode: codeManifestInvalid},
		{name: "unknown type", contentType: "text/plain", body: `{"schemaVersion":2}`, wantCode: codeManifestInvalid},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m, err := parseManifest(tc.contentType, []byte(tc.body))
			if tc.wantCode != "" {
				var re *regError
				if !errors.As(err, &re) || re.code != tc.wantCode {
					t.Fatalf("err %v, want %s", err, tc.wantCode)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if m.MediaType != tc.wantType || fmt.Sprint(m.Blobs) != fmt.Sprint(tc.wantBlobs) || fmt.Sprint(m.Manifests) != fmt.Sprint(tc.wantChildren) {
				t.Fatalf("got %s blobs %v children %v", m.MediaType, m.Blobs, m.Manifests)
			}
		})
	}
}

func FuzzParseManifest(f *testing.F) {
	f.Add(MediaTypeOCIManifest, []byte(`{"schemaVersion":2,"config":{"digest":"`+digest('a')+`"},"layers":[{"digest":"`+digest('b')+`"}]}`))
	f.Add(MediaTypeOCIIndex, []byte(`{"schemaVersion":2,"manifests":[{"digest":"`+digest('a')+`"}]}`))
	f.Add("", []byte(`{"schemaVersion":2,"mediaType":"`+MediaTypeDockerList+`","manifests":[]}`))
	f.Fuzz(func(t *testing.T, contentType string, body []byte) {
		m, err := parseManifest(contentType, body)
		if err != nil {
			var re *regError
			if !errors.As(err, &re) || re.status != 400 && re.status != 415 {
				t.Fatalf("error %v is not a 400/415 registry error", err)
			}
			return
		}
		for _, d := range append(m.Blobs, m.Manifests...) {
			if api.ValidateImageDigest("", d) != nil {
				t.Fatalf("accepted a reference %q that is not a sha256 digest", d)
			}
		}
	})
}

func TestImageStatusHistory(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	repo := "localhost:8443/shop/web"
	st := imageStatus(repo, api.ImageStatus{}, []store.RegistryTag{{Tag: "v1", Digest: digest('1'), Updated: t0}, {Tag: "latest", Digest: digest('1'), Updated: t0}})
	if len(st.Tags) != 2 || st.Tags[0].Tag != "latest" || st.Tags[1].Image != repo+"@"+digest('1') || len(st.Tags[1].History) != 1 {
		t.Fatalf("first status %+v", st)
	}
	// Unchanged tags keep their entry; a moved tag gains history, newest
	// first, bounded.
	for i := 0; i < api.MaxImageTagHistory+3; i++ {
		st = imageStatus(repo, st, []store.RegistryTag{{Tag: "latest", Digest: digestN(i), Updated: t0.Add(time.Duration(i+1) * time.Minute)}})
	}
	latest := st.Tag("latest")
	if len(st.Tags) != 1 || latest == nil || latest.Digest != digestN(api.MaxImageTagHistory+2) ||
		len(latest.History) != api.MaxImageTagHistory || latest.History[0].Digest != latest.Digest || latest.History[1].Digest != digestN(api.MaxImageTagHistory+1) {
		t.Fatalf("latest after moves %+v", latest)
	}
	if err := (&st).Validate(); err != nil {
		t.Fatalf("the status the registry writes does not validate: %v", err)
	}
	again := imageStatus(repo, st, []store.RegistryTag{{Tag: "latest", Digest: latest.Digest, Updated: t0.Add(time.Hour)}})
	if again.Tag("latest").Created != latest.Created {
		t.Fatalf("re-sync of an unmoved tag changed it: %+v", again.Tag("latest"))
	}
}
