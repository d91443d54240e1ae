package builds

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"

	"github.com/slipway/slipway/api"
	"github.com/slipway/slipway/api/errdefs"
	"github.com/slipway/slipway/server/reconcile"
	"github.com/slipway/slipway/server/store"
)

// ImagesResource is the registry's resource: one object per repository
// <project>/<name>, whose status.tags say where each tag points.
const ImagesResource = api.ImagesResource

// imageTags is the part of an images object the triggers read.
type imageTags struct {
	Metadata api.ObjectMeta `json:"metadata"`
	Status   struct {
		Tags []struct {
			Tag    string `json:"tag"`
			Digest string `json:"digest"`
			Image  string `json:"image"`
		} `json:"tags"`
	} `json:"status"`
}

// ImageTriggers follows image stream tags: when a tag of an images object
// points at a new digest, deployments with an automatic ImageChange
// trigger from that tag get their containers' image set to
// HOST/PROJECT/NAME@sha256:… (a rollout), and BuildConfigs with an
// ImageChange trigger on it (their builder image, by default) build again.
// A rollback turns a deployment's automatic trigger off (see
// workloads.Operations.Rollback), so it is left alone until
// `slip set triggers --auto`.
type ImageTriggers struct {
	Deps
	ctl     *reconcile.Controller
	started atomic.Bool
}

func triggerControllers(deps Deps) []*reconcile.Controller {
	images, ok := deps.Catalogue.Lookup(ImagesResource)
	if !ok {
		return nil // the registry is not part of this server
	}
	it := &ImageTriggers{Deps: deps}
	it.ctl = &reconcile.Controller{Name: "image-triggers", Resource: images, Service: deps.Service,
		Reconciler: reconcile.ReconcilerFunc(func(ctx context.Context, req reconcile.Request) (reconcile.Result, error) {
			it.started.Store(true)
			return it.Reconcile(ctx, req)
		})}
	// A new or changed follower is brought up to date with its tag.
	deploymentMapper := reconcile.ReconcilerFunc(func(ctx context.Context, req reconcile.Request) (reconcile.Result, error) {
		obj, err := deps.Service.Get(ctx, deps.lookup(api.DeploymentsResource), req.Name)
		if err != nil {
			return reconcile.Result{}, nil
		}
		var spec api.DeploymentSpec
		if json.Unmarshal(obj.Spec, &spec) != nil {
			return reconcile.Result{}, nil
		}
		for _, t := range spec.Triggers {
			if ic := t.ImageChange; ic != nil && ic.Automatic {
				it.enqueueTag(req.Project, ic.From)
			}
		}
		return reconcile.Result{}, nil
	})
	bcMapper := reconcile.ReconcilerFunc(func(ctx context.Context, req reconcile.Request) (reconcile.Result, error) {
		obj, err := deps.Service.Get(ctx, deps.lookup(api.BuildConfigsResource), req.Name)
		if err != nil {
			return reconcile.Result{}, nil
		}
		bc, err := decode[api.BuildConfig](obj)
		if err != nil {
			return reconcile.Result{}, nil
		}
		for _, from := range imageTriggerTags(bc) {
			it.enqueueTag("", from)
		}
		return reconcile.Result{}, nil
	})
	return []*reconcile.Controller{it.ctl,
		{Name: "image-trigger-deployments", Resource: deps.lookup(api.DeploymentsResource), Service: deps.Service, Reconciler: deploymentMapper},
		{Name: "image-trigger-buildconfigs", Resource: deps.lookup(api.BuildConfigsResource), Service: deps.Service, Reconciler: bcMapper},
	}
}

func (it *ImageTriggers) enqueueTag(project, from string) {
	p, name, _, err := api.ParseImageStreamTag(from)
	if err != nil || !it.started.Load() {
		return
	}
	if p == "" {
		p = project
	}
	it.ctl.Enqueue(reconcile.Request{Project: p, Name: name})
}

// imageTriggerTags are the "project/name:tag" a BuildConfig's ImageChange
// triggers follow.
func imageTriggerTags(bc *api.BuildConfig) []string {
	var out []string
	for _, t := range bc.Spec.Triggers {
		if t.Type != api.ImageChangeBuildTrigger {
			continue
		}
		from := (*api.ImageReference)(nil)
		if t.ImageChange != nil && t.ImageChange.From != nil {
			from = t.ImageChange.From
		} else if ss := bc.Spec.Strategy.SourceStrategy; ss != nil && ss.From.Kind == api.ImageStreamTagKind {
			from = &ss.From
		}
		if from == nil {
			continue
		}
		ns := from.Namespace
		if ns == "" {
			ns = bc.Metadata.Project
		}
		out = append(out, ns+"/"+from.Name)
	}
	return out
}

// Reconcile implements reconcile.Reconciler for one images object.
func (it *ImageTriggers) Reconcile(ctx context.Context, req reconcile.Request) (reconcile.Result, error) {
	images, _ := it.Catalogue.Lookup(ImagesResource)
	obj, err := it.Service.Get(ctx, images, req.Name)
	if errors.Is(err, errdefs.ErrNotFound) {
		return reconcile.Result{}, nil
	}
	if err != nil {
		return reconcile.Result{}, err
	}
	var img imageTags
	raw, _ := json.Marshal(obj)
	if err := json.Unmarshal(raw, &img); err != nil {
		return reconcile.Result{}, reconcile.Terminal(fmt.Errorf("images %s/%s is unreadable: %w", req.Project, req.Name, err))
	}
	tags := map[string]string{} // "project/name:tag" → image by digest
	digests := map[string]string{}
	for _, t := range img.Status.Tags {
		if t.Tag == "" || !strings.HasPrefix(t.Digest, "sha256:") {
			continue
		}
		key := req.Project + "/" + req.Name + ":" + t.Tag
		ref := t.Image
		if !strings.Contains(ref, "@sha256:") {
			host := ""
			if it.Instantiator != nil {
				host = it.Instantiator.RegistryHost() + "/"
			}
			ref = host + req.Project + "/" + req.Name + "@" + t.Digest
		}
		tags[key], digests[key] = ref, t.Digest
	}
	if len(tags) == 0 {
		return reconcile.Result{}, nil
	}
	all := store.WithProject(ctx, store.AllProjects)
	if err := it.rollDeployments(all, tags); err != nil {
		return reconcile.Result{}, err
	}
	return reconcile.Result{}, it.rebuild(all, digests)
}

// rollDeployments points the containers of every deployment following one
// of tags automatically at the tag's image.
func (it *ImageTriggers) rollDeployments(ctx context.Context, tags map[string]string) error {
	res := it.lookup(api.DeploymentsResource)
	list, err := it.Service.List(ctx, res, api.ListOptions{})
	if err != nil {
		return fmt.Errorf("list deployments: %w", err)
	}
	var errs []error
	for _, obj := range list.Items {
		if obj.Metadata.DeletionTimestamp != nil {
			continue
		}
		var spec api.DeploymentSpec
		if json.Unmarshal(obj.Spec, &spec) != nil {
			continue
		}
		changed := false
		for _, t := range spec.Triggers {
			ic := t.ImageChange
			if ic == nil || !ic.Automatic {
				continue
			}
			image, ok := tags[qualify(obj.Metadata.Project, ic.From)]
			if !ok {
				continue
			}
			for i := range spec.Template.Spec.Containers {
				c := &spec.Template.Spec.Containers[i]
				for _, n := range ic.ContainerNames {
					if c.Name == n && c.Image != image {
						c.Image, changed = image, true
					}
				}
			}
		}
		if !changed {
			continue
		}
		next := *obj
		if next.Spec, err = json.Marshal(spec); err != nil {
			return err
		}
		pctx := store.WithProject(ctx, obj.Metadata.Project)
		if _, err := it.Service.Update(pctx, res, obj.Metadata.Name, &next); err != nil {
			errs = append(errs, fmt.Errorf("roll deployment %s/%s to its new image: %w", obj.Metadata.Project, obj.Metadata.Name, err))
			continue
		}
		it.Logger.InfoContext(ctx, "image trigger rolled a deployment out", "project", obj.Metadata.Project, "name", obj.Metadata.Name)
	}
	return errors.Join(errs...)
}

// qualify makes "name:tag" relative to project absolute.
func qualify(project, from string) string {
	if strings.Contains(from, "/") {
		return from
	}
	return project + "/" + from
}

// rebuild starts a build of every BuildConfig whose ImageChange trigger
// follows one of the tags and has last built from another digest. The
// first digest a trigger sees is recorded without a build.
func (it *ImageTriggers) rebuild(ctx context.Context, digests map[string]string) error {
	if it.Instantiator == nil {
		return nil
	}
	res := it.lookup(api.BuildConfigsResource)
	list, err := it.Service.List(ctx, res, api.ListOptions{})
	if err != nil {
		return fmt.Errorf("list buildconfigs: %w", err)
	}
	var errs []error
	for _, obj := range list.Items {
		if obj.Metadata.DeletionTimestamp != nil {
			continue
		}
		bc, err := decode[api.BuildConfig](obj)
		if err != nil {
			continue
		}
		pctx := store.WithProject(ctx, bc.Metadata.Project)
		for _, from := range imageTriggerTags(bc) {
			digest, ok := digests[from]
			if !ok {
				continue
			}
			last := ""
			for _, s := range bc.Status.ImageChangeTriggers {
				if s.From == from {
					last = s.LastTriggeredImageID
				}
			}
			seen := api.ImageChangeTriggerStatus{From: from, LastTriggeredImageID: digest}
			switch {
			case last == digest:
			case last == "":
				if err := it.Instantiator.RecordImageTrigger(pctx, bc.Metadata.Name, seen); err != nil {
					errs = append(errs, err)
				}
			default:
				_, err := it.Instantiator.Instantiate(pctx, bc.Metadata.Name, Request{
					Cause:        api.BuildCause{Type: api.ImageChangeBuildTrigger, Message: "Image change: " + from, ImageID: digest},
					ImageTrigger: &seen,
				})
				if err != nil {
					errs = append(errs, fmt.Errorf("rebuild buildconfig %s/%s on %s: %w", bc.Metadata.Project, bc.Metadata.Name, from, err))
					continue
				}
				it.Logger.InfoContext(ctx, "image trigger started a build", "project", bc.Metadata.Project, "name", bc.Metadata.Name, "from", from)
			}
		}
	}
	return errors.Join(errs...)
}
