package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/slipway/slipway/api"
	"github.com/slipway/slipway/api/errdefs"
	"github.com/slipway/slipway/cli/kinds"
	"github.com/slipway/slipway/cli/output"
)

// listPage is the page size of lists; slip follows continue tokens.
const listPage = 500

// target is one object named on the command line.
type target struct {
	kind *kinds.Kind
	name string
}

// parseTargets reads "KIND NAME..." or "KIND/NAME...".
func (a *App) parseTargets(ctx context.Context, s *session, args []string) ([]target, error) {
	if len(args) == 0 {
		return nil, usagef("name a resource type: slip api-resources lists them")
	}
	var out []target
	if strings.Contains(args[0], "/") {
		for _, arg := range args {
			kind, name, ok := strings.Cut(arg, "/")
			if !ok || kind == "" || name == "" {
				return nil, usagef("%q: mixing KIND/NAME and KIND NAME forms, or an empty part", arg)
			}
			k, err := a.kind(ctx, s, kind)
			if err != nil {
				return nil, err
			}
			out = append(out, target{k, name})
		}
		return out, nil
	}
	k, err := a.kind(ctx, s, args[0])
	if err != nil {
		return nil, err
	}
	if len(args) == 1 {
		return []target{{kind: k}}, nil
	}
	for _, name := range args[1:] {
		if strings.Contains(name, "/") {
			return nil, usagef("%q: mixing KIND/NAME and KIND NAME forms", name)
		}
		out = append(out, target{k, name})
	}
	return out, nil
}

// scope returns the project to address k in ("" for cluster-scoped kinds).
func (a *App) scope(s *session, k *kinds.Kind) (string, error) {
	if !k.ProjectScoped() {
		return "", nil
	}
	return a.projectOf(s)
}

// getObject fetches one object.
func getObject(ctx context.Context, s *session, k *kinds.Kind, project, name string) (*kinds.Object, error) {
	var raw json.RawMessage
	if err := s.client.Get(ctx, k.Resource, project, name, &raw); err != nil {
		return nil, err
	}
	return kinds.Decode(raw)
}

// listObjects fetches every object of k in project ("" for all projects
// or a cluster-scoped kind), following pages.
func listObjects(ctx context.Context, s *session, k *kinds.Kind, project, selector string) ([]*kinds.Object, error) {
	opts := api.ListOptions{LabelSelector: selector, Limit: listPage}
	var out []*kinds.Object
	for {
		var page api.List[json.RawMessage]
		if err := s.client.List(ctx, k.Resource, project, opts, &page); err != nil {
			return nil, err
		}
		for _, raw := range page.Items {
			o, err := kinds.Decode(raw)
			if err != nil {
				return nil, err
			}
			out = append(out, o)
		}
		if page.Metadata.Continue == "" {
			return out, nil
		}
		opts.Continue = page.Metadata.Continue
	}
}

type getOptions struct {
	output      string
	selector    string
	watch       bool
	allProjects bool
}

const getExample = `  # The config maps of the current project
  slip get configmaps

  # One config map, as YAML
  slip get cm web -o yaml

  # The config maps labelled app=web in the project "shop", with their names only
  slip get cm -n shop -l app=web -o name

  # Every project you can see, with more columns
  slip get projects -o wide

  # Config maps of every project you can see, then follow changes
  slip get cm -A -w`

func (a *App) getCommand() *cobra.Command {
	var o getOptions
	cmd := &cobra.Command{
		Use:   "get KIND [NAME...]",
		Short: "List objects, or show some by name",
		Long: `List the objects of a kind, or show the named ones, as a table, JSON, YAML or
kind/name pairs. KIND is a plural, singular, kind or short name, in any case:
projects, project, Project, cm, configmaps, sa, rolebindings...`,
		Example: getExample,
		Args:    cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.get(cmd.Context(), args, &o)
		},
	}
	f := cmd.Flags()
	f.StringVarP(&o.output, "output", "o", "", "output format: "+strings.Join(output.Formats, ", "))
	f.StringVarP(&o.selector, "selector", "l", "", "a label selector such as app=web,tier!=db")
	f.BoolVarP(&o.watch, "watch", "w", false, "after listing, follow changes until interrupted")
	f.BoolVarP(&o.allProjects, "all-projects", "A", false, "list across every project you can see")
	return cmd
}

func (a *App) printer(format string, k *kinds.Kind) (*output.Printer, error) {
	f, tpl, err := output.ParseFormat(format)
	if err != nil {
		return nil, &usageError{err}
	}
	return &output.Printer{Format: f, Template: tpl, Kind: k, Now: a.Now()}, nil
}

func (a *App) get(ctx context.Context, args []string, o *getOptions) error {
	if _, _, err := output.ParseFormat(o.output); err != nil {
		return &usageError{err}
	}
	s, err := a.session()
	if err != nil {
		return err
	}
	targets, err := a.parseTargets(ctx, s, args)
	if err != nil {
		return err
	}
	k := targets[0].kind
	p, err := a.printer(o.output, k)
	if err != nil {
		return err
	}
	project := ""
	if k.ProjectScoped() && !o.allProjects {
		if project, err = a.projectOf(s); err != nil {
			return err
		}
	}
	p.ShowProject = k.ProjectScoped() && o.allProjects

	if targets[0].name == "" {
		if o.watch {
			return a.watch(ctx, s, p, project, o.selector, "")
		}
		objs, err := listObjects(ctx, s, k, project, o.selector)
		if err != nil {
			return failedTo("list "+k.Resource.Plural+inProject(k, project), err)
		}
		if len(objs) == 0 && (p.Format == output.Table || p.Format == output.Wide) {
			fmt.Fprintf(a.Stderr, "No %s found%s.\n", k.Resource.Plural, inProject(k, project))
			return nil
		}
		return p.PrintList(a.Stdout, objs)
	}
	if o.allProjects {
		return usagef("-A lists: it cannot be combined with names")
	}
	if o.selector != "" {
		return usagef("-l selects from a list: it cannot be combined with names")
	}
	if o.watch {
		if len(targets) != 1 {
			return usagef("-w follows one object or a list")
		}
		if _, err := getObject(ctx, s, k, project, targets[0].name); err != nil {
			return failed("get", k, project, targets[0].name, err)
		}
		return a.watch(ctx, s, p, project, "", targets[0].name)
	}
	// Objects of several kinds print as one table per kind.
	var errs []error
	for i := 0; i < len(targets); {
		j := i
		for j < len(targets) && targets[j].kind == targets[i].kind {
			j++
		}
		group := targets[i:j]
		k := group[0].kind
		project, err := a.scope(s, k)
		if err != nil {
			return err
		}
		var objs []*kinds.Object
		for _, t := range group {
			obj, err := getObject(ctx, s, k, project, t.name)
			if err != nil {
				errs = append(errs, failed("get", k, project, t.name, err))
				continue
			}
			objs = append(objs, obj)
		}
		p.Kind = k
		if i > 0 && len(objs) > 0 && (p.Format == output.Table || p.Format == output.Wide) {
			fmt.Fprintln(a.Stdout)
		}
		switch {
		case len(objs) == 1 && len(targets) == 1:
			err = p.PrintObject(a.Stdout, objs[0])
		case len(objs) > 0:
			err = p.PrintList(a.Stdout, objs)
		}
		if err != nil {
			return err
		}
		i = j
	}
	return errors.Join(errs...)
}

func inProject(k *kinds.Kind, project string) string {
	if !k.ProjectScoped() {
		return ""
	}
	if project == "" {
		return " in any project"
	}
	return fmt.Sprintf(" in project %q", project)
}

// watch prints the objects, then every change, until ctx ends (an
// interrupt or --request-timeout), which is a normal end.
func (a *App) watch(ctx context.Context, s *session, p *output.Printer, project, selector, name string) error {
	k := p.Kind
	w, err := s.client.Watch(ctx, k.Resource, project, api.ListOptions{LabelSelector: selector})
	if err != nil {
		return failedTo("watch "+k.Resource.Plural+inProject(k, project), err)
	}
	defer w.Close()
	stop := context.AfterFunc(ctx, func() { w.Close() })
	defer stop()
	tw := output.NewTable(a.Stdout)
	p.WriteHeader(tw)
	for {
		ev, err := w.Next()
		if ctx.Err() != nil {
			_ = tw.Flush()
			return nil
		}
		if errors.Is(err, io.EOF) {
			return tw.Flush()
		}
		if err != nil {
			_ = tw.Flush()
			return failedTo("watch "+k.Resource.Plural, err)
		}
		if ev.Type == api.Bookmark {
			continue
		}
		obj, err := kinds.Decode(ev.Object)
		if err != nil {
			return err
		}
		if name != "" && obj.Name() != name {
			continue
		}
		p.Now = a.Now()
		p.WriteRow(tw, obj)
		if err := tw.Flush(); err != nil {
			return err
		}
	}
}

func (a *App) describeCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "describe KIND NAME...",
		Short: "Show objects in detail, for people",
		Example: `  # The config map "web" of the current project
  slip describe configmap web

  # Who has the edit role in the project "shop"
  slip describe rolebinding edit -n shop`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) == 1 && strings.Contains(args[0], "/") {
				return nil // KIND/NAME
			}
			return minArgs("KIND", "NAME")(cmd, args)
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			s, err := a.session()
			if err != nil {
				return err
			}
			targets, err := a.parseTargets(ctx, s, args)
			if err != nil {
				return err
			}
			var errs []error
			for i, t := range targets {
				if t.name == "" {
					return usagef("name the object to describe: slip describe %s NAME", args[0])
				}
				project, err := a.scope(s, t.kind)
				if err != nil {
					return err
				}
				obj, err := getObject(ctx, s, t.kind, project, t.name)
				if err != nil {
					errs = append(errs, failed("describe", t.kind, project, t.name, err))
					continue
				}
				if i > 0 {
					fmt.Fprintln(a.Stdout)
				}
				if err := output.Describe(a.Stdout, t.kind, obj, a.Now()); err != nil {
					return err
				}
				if t.kind.Resource.Plural == api.BuildConfigsResource {
					if err := a.describeBuildConfig(ctx, s, project, obj); err != nil {
						return err
					}
				}
			}
			return errors.Join(errs...)
		},
	}
}

func (a *App) deleteCommand() *cobra.Command {
	var ignoreNotFound bool
	cmd := &cobra.Command{
		Use:   "delete KIND NAME...",
		Short: "Delete objects",
		Example: `  # Delete the config map "web" of the current project
  slip delete configmap web

  # Delete a project and everything in it
  slip delete project shop

  # Delete two objects named kind/name
  slip delete cm/web sa/deployer`,
		Args: minArgs("KIND", "NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			s, err := a.session()
			if err != nil {
				return err
			}
			targets, err := a.parseTargets(ctx, s, args)
			if err != nil {
				return err
			}
			var errs []error
			for _, t := range targets {
				if t.name == "" {
					return usagef("name the object to delete: slip delete %s NAME", args[0])
				}
				project, err := a.scope(s, t.kind)
				if err != nil {
					return err
				}
				if err := s.client.Delete(ctx, t.kind.Resource, project, t.name, nil); err != nil {
					if ignoreNotFound && errors.Is(err, errdefs.ErrNotFound) {
						continue
					}
					errs = append(errs, failed("delete", t.kind, project, t.name, err))
					continue
				}
				fmt.Fprintf(a.Stdout, "%s deleted\n", t.kind.Ref(t.name))
			}
			return errors.Join(errs...)
		},
	}
	cmd.Flags().BoolVar(&ignoreNotFound, "ignore-not-found", false, "succeed when an object does not exist")
	return cmd
}

func (a *App) apiResourcesCommand() *cobra.Command {
	return &cobra.Command{
		Use:     "api-resources",
		Short:   "List the resource types the server serves",
		Example: "  slip api-resources",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if s, err := a.session(); err == nil {
				served, err := discover(cmd.Context(), s)
				if err != nil {
					return err
				}
				a.kinds.Learn(served)
			}
			tw := output.NewTable(a.Stdout)
			fmt.Fprintln(tw, "NAME\tSHORTNAMES\tKIND\tPROJECTSCOPED")
			for _, k := range a.kinds.All() {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%t\n", k.Resource.Plural, strings.Join(k.ShortNames, ","), k.Resource.Kind, k.ProjectScoped())
			}
			return tw.Flush()
		},
	}
}
