package builds

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/slipway/slipway/api"
	"github.com/slipway/slipway/api/errdefs"
	"github.com/slipway/slipway/server/resource"
	"github.com/slipway/slipway/server/store"
)

// maxConflictRetries bounds the read-modify-write retries of a write
// racing other writers of the same BuildConfig.
const maxConflictRetries = 32

// ErrDuplicateDelivery says a webhook delivery id was seen before: the
// delivery is recorded but starts no build.
var ErrDuplicateDelivery = errors.New("delivery already received")

// Instantiator starts builds. Build numbers come from the BuildConfig's
// status.lastVersion, advanced with a compare-and-swap on the
// BuildConfig's resourceVersion, so concurrent starts get distinct,
// consecutive numbers.
type Instantiator struct {
	Service   *resource.Service
	Catalogue *api.Catalogue
	// RegistryHost is the host[:port] of Slipway's registry, prefixed to
	// image stream tags to make image references.
	RegistryHost func() string
	// Sources keeps uploaded binary sources (nil: binary builds refused).
	Sources *Sources
	// Now is the clock (time.Now when nil).
	Now func() time.Time
	// Metrics count starts and webhook deliveries (nil: none).
	Metrics *Metrics

	// stripes serialise this process's writers of one BuildConfig's
	// status, so they queue instead of failing each other's
	// compare-and-swap; the swap still orders writers across servers.
	stripes [64]sync.Mutex
}

func (in *Instantiator) lock(ctx context.Context, name string) func() {
	project, _ := store.ProjectFrom(ctx)
	h := fnv.New32a()
	h.Write([]byte(project + "/" + name))
	m := &in.stripes[h.Sum32()%uint32(len(in.stripes))]
	m.Lock()
	return m.Unlock
}

// Request is one build to start.
type Request struct {
	Cause api.BuildCause
	// Revision overrides the commit.
	Revision *api.BuildRevision
	// Env is added to the strategy's env.
	Env []api.EnvVar
	// Binary is an uploaded archive (from Sources.Stage).
	Binary *Staged
	// Delivery, when set, is recorded in the BuildConfig's status in the
	// same write that reserves the build number; a DeliveryID seen among
	// the recorded deliveries makes the start ErrDuplicateDelivery.
	Delivery *api.WebhookDelivery
	// ImageTrigger, when set, records the image an ImageChange trigger
	// built from in the same write.
	ImageTrigger *api.ImageChangeTriggerStatus
}

func (in *Instantiator) now() time.Time {
	if in.Now == nil {
		return time.Now()
	}
	return in.Now()
}

func (in *Instantiator) lookup(plural string) *api.Resource {
	r, ok := in.Catalogue.Lookup(plural)
	if !ok {
		panic("builds: resource " + plural + " is not in the catalogue")
	}
	return r
}

// Instantiate starts the next build of BuildConfig name in the context's
// project and returns it.
func (in *Instantiator) Instantiate(ctx context.Context, name string, req Request) (*api.Object, error) {
	bcs := in.lookup(api.BuildConfigsResource)
	var (
		bc *api.BuildConfig
		n  int64
	)
	unlock := in.lock(ctx, name)
	defer func() {
		if unlock != nil {
			unlock()
		}
	}()
	for attempt := 0; ; attempt++ {
		obj, err := in.Service.Get(ctx, bcs, name)
		if err != nil {
			return nil, err
		}
		if obj.Metadata.DeletionTimestamp != nil {
			return nil, fmt.Errorf("buildconfig %q is being deleted: %w", name, errdefs.ErrConflict)
		}
		if bc, err = decode[api.BuildConfig](obj); err != nil {
			return nil, err
		}
		if req.Binary != nil && in.Sources == nil {
			return nil, errdefs.BadRequestf("", "this server keeps no uploaded sources")
		}
		if req.Binary == nil && bc.Spec.Source.Git == nil {
			return nil, errdefs.BadRequestf("", "buildconfig %q has a Binary source: start it with an uploaded archive (slip start-build %s --from-dir DIR)", name, name)
		}
		st := &bc.Status
		if d := req.Delivery; d != nil && d.DeliveryID != "" {
			for _, seen := range st.WebhookDeliveries {
				if seen.DeliveryID == d.DeliveryID && seen.Type == d.Type && seen.Result == api.DeliveryTriggered {
					dup := *d
					dup.Result, dup.Reason, dup.Build = api.DeliveryDuplicate, "delivery "+d.DeliveryID+" already started build "+seen.Build, seen.Build
					in.Metrics.delivery(dup.Type, dup.Result)
					unlock()
					unlock = nil
					if err := in.RecordDelivery(ctx, name, dup); err != nil {
						return nil, err
					}
					return nil, fmt.Errorf("%s: %w", dup.Reason, ErrDuplicateDelivery)
				}
			}
		}
		n = st.LastVersion + 1
		st.LastVersion = n
		if d := req.Delivery; d != nil {
			rec := *d
			rec.Result, rec.Build = api.DeliveryTriggered, buildName(name, n)
			st.WebhookDeliveries = appendDelivery(st.WebhookDeliveries, rec, in.now())
		}
		if it := req.ImageTrigger; it != nil {
			setImageTrigger(st, *it)
		}
		raw, err := json.Marshal(st)
		if err != nil {
			return nil, err
		}
		obj.Status = raw
		_, err = in.Service.UpdateStatus(ctx, bcs, name, obj)
		if err == nil {
			unlock()
			unlock = nil
			break
		}
		if !errors.Is(err, errdefs.ErrConflict) || attempt >= maxConflictRetries {
			return nil, fmt.Errorf("reserve the next build number of buildconfig %q: %w", name, err)
		}
	}
	build, err := in.newBuild(ctx, bc, n, req)
	if err != nil {
		return nil, err
	}
	if req.Binary != nil {
		if err := in.Sources.Commit(req.Binary, bc.Metadata.Project, build.Metadata.Name); err != nil {
			return nil, err
		}
	}
	obj, err := encode(build)
	if err != nil {
		return nil, err
	}
	created, err := in.Service.Create(ctx, in.lookup(api.BuildsResource), obj)
	if err != nil {
		return nil, fmt.Errorf("create build %s: %w", build.Metadata.Name, err)
	}
	in.Metrics.buildStarted(build.Spec.TriggeredBy[0].Type)
	if d := req.Delivery; d != nil {
		in.Metrics.delivery(d.Type, api.DeliveryTriggered)
	}
	return created, nil
}

// RecordDelivery adds a delivery that started no build to the
// BuildConfig's status.
func (in *Instantiator) RecordDelivery(ctx context.Context, name string, d api.WebhookDelivery) error {
	if d.Result != api.DeliveryDuplicate {
		in.Metrics.delivery(d.Type, d.Result)
	}
	return in.updateStatus(ctx, name, func(st *api.BuildConfigStatus) {
		st.WebhookDeliveries = appendDelivery(st.WebhookDeliveries, d, in.now())
	})
}

// RecordImageTrigger notes the image an ImageChange trigger has seen
// without building (the first image it resolves).
func (in *Instantiator) RecordImageTrigger(ctx context.Context, name string, s api.ImageChangeTriggerStatus) error {
	return in.updateStatus(ctx, name, func(st *api.BuildConfigStatus) { setImageTrigger(st, s) })
}

func (in *Instantiator) updateStatus(ctx context.Context, name string, change func(*api.BuildConfigStatus)) error {
	bcs := in.lookup(api.BuildConfigsResource)
	defer in.lock(ctx, name)()
	for attempt := 0; ; attempt++ {
		obj, err := in.Service.Get(ctx, bcs, name)
		if err != nil {
			return err
		}
		bc, err := decode[api.BuildConfig](obj)
		if err != nil {
			return err
		}
		change(&bc.Status)
		if obj.Status, err = json.Marshal(bc.Status); err != nil {
			return err
		}
		_, err = in.Service.UpdateStatus(ctx, bcs, name, obj)
		if err == nil || !errors.Is(err, errdefs.ErrConflict) || attempt >= maxConflictRetries {
			return err
		}
	}
}

func setImageTrigger(st *api.BuildConfigStatus, s api.ImageChangeTriggerStatus) {
	for i := range st.ImageChangeTriggers {
		if st.ImageChangeTriggers[i].From == s.From {
			st.ImageChangeTriggers[i] = s
			return
		}
	}
	st.ImageChangeTriggers = append(st.ImageChangeTriggers, s)
}

func appendDelivery(list []api.WebhookDelivery, d api.WebhookDelivery, now time.Time) []api.WebhookDelivery {
	if d.Time == nil {
		t := now.UTC().Truncate(time.Second)
		d.Time = &t
	}
	list = append(list, d)
	if over := len(list) - api.MaxWebhookDeliveries; over > 0 {
		list = append([]api.WebhookDelivery(nil), list[over:]...)
	}
	return list
}

func buildName(config string, n int64) string { return config + "-" + strconv.FormatInt(n, 10) }

// newBuild makes Build n of bc: the config's spec with the builder image
// and output resolved to full references.
func (in *Instantiator) newBuild(ctx context.Context, bc *api.BuildConfig, n int64, req Request) (*api.Build, error) {
	project := bc.Metadata.Project
	spec := bc.Spec.CommonSpec
	// Deep copies of what is changed below.
	ss := *spec.Strategy.SourceStrategy
	ss.Env = append(append([]api.EnvVar(nil), ss.Env...), req.Env...)
	spec.Strategy.SourceStrategy = &ss
	from, err := in.ResolveImage(project, ss.From)
	if err != nil {
		return nil, errdefs.Invalidf("spec.strategy.sourceStrategy.from", "%v", err)
	}
	ss.From = api.ImageReference{Kind: api.DockerImageKind, Name: from}
	to, err := in.ResolveImage(project, *spec.Output.To)
	if err != nil {
		return nil, errdefs.Invalidf("spec.output.to", "%v", err)
	}
	spec.Output.To = &api.ImageReference{Kind: api.DockerImageKind, Name: to}
	if req.Binary != nil {
		spec.Source.Type = api.BuildSourceBinary
		spec.Source.Binary = &api.BinaryBuildSource{SHA256: req.Binary.SHA256, Size: req.Binary.Size,
			URL: "https://" + in.RegistryHost() + "/api/v1/projects/" + project + "/builds/" + buildName(bc.Metadata.Name, n) + "/source"}
	}
	cause := req.Cause
	if cause.Type == "" {
		cause.Type = api.ManualBuildTrigger
	}
	name := buildName(bc.Metadata.Name, n)
	return &api.Build{Kind: "Build", APIVersion: api.Version,
		Metadata: api.ObjectMeta{Name: name, Project: project,
			Labels:      map[string]string{api.BuildConfigLabel: bc.Metadata.Name},
			Annotations: map[string]string{api.BuildNumberAnnotation: strconv.FormatInt(n, 10), api.OwnerUIDAnnotation: bc.Metadata.UID}},
		Spec: api.BuildSpec{CommonSpec: spec, Revision: req.Revision, TriggeredBy: []api.BuildCause{cause}},
	}, nil
}

// ResolveImage turns an image reference into a full one: a DockerImage as
// is, an ImageStreamTag "name:tag" (in namespace, default project) into
// HOST/PROJECT/NAME:TAG.
func (in *Instantiator) ResolveImage(project string, ref api.ImageReference) (string, error) {
	switch ref.Kind {
	case api.DockerImageKind:
		return ref.Name, nil
	case api.ImageStreamTagKind, "":
		ns := ref.Namespace
		if ns == "" {
			ns = project
		}
		if _, _, _, err := api.ParseImageStreamTag(ref.Name); err != nil || strings.Contains(ref.Name, "/") {
			return "", fmt.Errorf("%q is not an image stream tag name:tag", ref.Name)
		}
		return in.RegistryHost() + "/" + ns + "/" + ref.Name, nil
	}
	return "", fmt.Errorf("unsupported image reference kind %q", ref.Kind)
}

// decode converts the generic envelope to a typed object.
func decode[T any](obj *api.Object) (*T, error) {
	raw, err := json.Marshal(obj)
	if err != nil {
		return nil, err
	}
	out := new(T)
	if err := json.Unmarshal(raw, out); err != nil {
		return nil, fmt.Errorf("%s %q is unreadable: %w", obj.Kind, obj.Metadata.Name, err)
	}
	return out, nil
}

// encode converts a typed object to the generic envelope.
func encode(v any) (*api.Object, error) {
	raw, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	var obj api.Object
	if err := json.Unmarshal(raw, &obj); err != nil {
		return nil, err
	}
	return &obj, nil
}
