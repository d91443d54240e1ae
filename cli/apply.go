package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"

	"github.com/spf13/cobra"

	"github.com/slipway/slipway/api/errdefs"
	"github.com/slipway/slipway/api/mergepatch"
	"github.com/slipway/slipway/cli/manifest"
)

// serverOwned are the metadata fields the server sets; a manifest exported
// with slip get -o yaml carries them, apply leaves them out.
var serverOwned = []string{"uid", "resourceVersion", "generation", "creationTimestamp", "deletionTimestamp"}

func (a *App) applyCommand() *cobra.Command {
	var files []string
	cmd := &cobra.Command{
		Use:   "apply -f FILE|DIR|-",
		Short: "Create or update objects from YAML or JSON files",
		Long: `Make the objects described by files exist as described: each one missing is
created, each one that differs is updated with a JSON merge patch of the
file's fields, and each one already as described is left unchanged, so
applying twice is harmless. Files hold one object, several YAML documents
separated by ---, or a List; a directory contributes its .yaml, .yml and
.json files.`,
		Example: `  # Apply one file
  slip apply -f web.yaml

  # Apply every manifest of a directory to the project "shop"
  slip apply -f deploy/ -n shop

  # Apply from standard input
  cat web.yaml | slip apply -f -`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if len(files) == 0 {
				return usagef("name what to apply with -f FILE, -f DIR or -f - (standard input)")
			}
			docs, err := manifest.Read(files, a.Stdin)
			if err != nil {
				return err
			}
			if len(docs) == 0 {
				return errors.New("no objects to apply")
			}
			s, err := a.session()
			if err != nil {
				return err
			}
			var errs []error
			for _, d := range docs {
				if err := a.applyOne(cmd.Context(), s, d); err != nil {
					errs = append(errs, err)
				}
			}
			return errors.Join(errs...)
		},
	}
	cmd.Flags().StringSliceVarP(&files, "filename", "f", nil, "a file, directory or - (standard input) to apply; repeatable")
	return cmd
}

func (a *App) applyOne(ctx context.Context, s *session, d manifest.Document) error {
	var doc map[string]any
	dec := json.NewDecoder(bytes.NewReader(d.JSON))
	dec.UseNumber()
	if err := dec.Decode(&doc); err != nil {
		return fmt.Errorf("%s: %w", d.Source, err)
	}
	kindName, _ := doc["kind"].(string)
	meta, _ := doc["metadata"].(map[string]any)
	name, _ := meta["name"].(string)
	if kindName == "" || name == "" {
		return fmt.Errorf("%s: an object needs kind and metadata.name", d.Source)
	}
	k, ok := a.kinds.ByKind(kindName)
	if !ok {
		var err error
		if k, err = a.kind(ctx, s, kindName); err != nil {
			return fmt.Errorf("%s: unknown kind %q (slip api-resources lists them)", d.Source, kindName)
		}
	}
	project := ""
	if k.ProjectScoped() {
		fileProject, _ := meta["project"].(string)
		switch {
		case fileProject != "" && a.project != "" && fileProject != a.project:
			return fmt.Errorf("%s: %s is in project %q, not %q given with -n", d.Source, k.Ref(name), fileProject, a.project)
		case fileProject != "":
			project = fileProject
		default:
			var err error
			if project, err = a.projectOf(s); err != nil {
				return err
			}
		}
	}
	for _, f := range serverOwned {
		delete(meta, f)
	}
	if k.Resource.HasStatus {
		delete(doc, "status") // written by its controller, not by users
	}
	body, err := json.Marshal(doc)
	if err != nil {
		return err
	}
	ref := k.Singular + "/" + name

	current, err := getObject(ctx, s, k, project, name)
	if errors.Is(err, errdefs.ErrNotFound) {
		if err := s.client.Create(ctx, k.Resource, project, body, nil); err != nil {
			return fmt.Errorf("%s: %w", d.Source, failed("create", k, project, name, err))
		}
		fmt.Fprintf(a.Stdout, "%s created\n", ref)
		return nil
	}
	if err != nil {
		return fmt.Errorf("%s: %w", d.Source, failed("get", k, project, name, err))
	}
	merged, err := mergepatch.Apply(current.Raw, body)
	if err != nil {
		return fmt.Errorf("%s: %w", d.Source, err)
	}
	if sameJSON(merged, current.Raw) {
		fmt.Fprintf(a.Stdout, "%s unchanged\n", ref)
		return nil
	}
	if err := s.client.Patch(ctx, k.Resource, project, name, body, false, nil); err != nil {
		return fmt.Errorf("%s: %w", d.Source, failed("update", k, project, name, err))
	}
	fmt.Fprintf(a.Stdout, "%s configured\n", ref)
	return nil
}

// sameJSON compares two JSON documents by value.
func sameJSON(a, b []byte) bool {
	var x, y any
	if json.Unmarshal(a, &x) != nil || json.Unmarshal(b, &y) != nil {
		return false
	}
	return reflect.DeepEqual(x, y)
}
