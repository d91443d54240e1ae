package cli

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/slipway/slipway/api"
	"github.com/slipway/slipway/api/client"
	"github.com/slipway/slipway/api/errdefs"
)

var projectsResource = mustResource(api.ProjectsResource)

// listProjects returns every project the caller can see, sorted by name.
func listProjects(ctx context.Context, c *client.Client) ([]api.Project, error) {
	var out []api.Project
	opts := api.ListOptions{Limit: listPage}
	for {
		var page api.List[api.Project]
		if err := c.List(ctx, projectsResource, "", opts, &page); err != nil {
			return nil, err
		}
		out = append(out, page.Items...)
		if page.Metadata.Continue == "" {
			break
		}
		opts.Continue = page.Metadata.Continue
	}
	slices.SortFunc(out, func(a, b api.Project) int { return strings.Compare(a.Metadata.Name, b.Metadata.Name) })
	return out, nil
}

func (a *App) projectsCommand() *cobra.Command {
	var quiet bool
	cmd := &cobra.Command{
		Use:   "projects",
		Short: "List the projects you can see",
		Example: `  # The projects you can switch to, the current one starred
  slip projects

  # Only the names
  slip projects -q`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			s, err := a.session()
			if err != nil {
				return err
			}
			projects, err := listProjects(cmd.Context(), s.client)
			if err != nil {
				return failedTo("list projects", err)
			}
			w := a.Stdout
			if quiet {
				for _, p := range projects {
					fmt.Fprintln(w, p.Metadata.Name)
				}
				return nil
			}
			if len(projects) == 0 {
				fmt.Fprintf(w, "You are not a member of any project. Create one with:\n\n    slip new-project <projectname>\n")
				return nil
			}
			fmt.Fprintf(w, "You have access to the following projects and can switch between them with 'slip project <projectname>':\n\n")
			current := false
			for _, p := range projects {
				mark := " "
				if p.Metadata.Name == s.ctx.Project {
					mark, current = "*", true
				}
				line := fmt.Sprintf("  %s %s", mark, p.Metadata.Name)
				if p.Spec.DisplayName != "" {
					line += " - " + p.Spec.DisplayName
				}
				fmt.Fprintln(w, line)
			}
			if current {
				fmt.Fprintf(w, "\nUsing project %q on server %q.\n", s.ctx.Project, s.ctx.Server)
			}
			return nil
		},
	}
	cmd.Flags().BoolVarP(&quiet, "quiet", "q", false, "print only the project names")
	return cmd
}

func (a *App) projectCommand() *cobra.Command {
	var short bool
	cmd := &cobra.Command{
		Use:   "project [NAME]",
		Short: "Show the current project, or switch to another",
		Example: `  # Which project am I using?
  slip project

  # Switch to the project "shop"
  slip project shop`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := a.session()
			if err != nil {
				return err
			}
			if len(args) == 0 {
				if s.ctx.Project == "" {
					return errors.New("no project selected: choose one with slip project NAME (slip projects lists them)")
				}
				if short {
					fmt.Fprintln(a.Stdout, s.ctx.Project)
				} else {
					fmt.Fprintf(a.Stdout, "Using project %q on server %q.\n", s.ctx.Project, s.ctx.Server)
				}
				return nil
			}
			name := args[0]
			var p api.Project
			if err := s.client.Get(cmd.Context(), projectsResource, "", name, &p); err != nil {
				if errors.Is(err, errdefs.ErrNotFound) || errors.Is(err, errdefs.ErrForbidden) {
					return fmt.Errorf("project %q does not exist or you cannot see it (slip projects lists yours)", name)
				}
				return failedTo(fmt.Sprintf("switch to project %q", name), err)
			}
			if s.ctx.Project == name {
				fmt.Fprintf(a.Stdout, "Already on project %q on server %q.\n", name, s.ctx.Server)
				return nil
			}
			s.ctx.Project = name
			if err := s.cfg.Save(); err != nil {
				return err
			}
			fmt.Fprintf(a.Stdout, "Now using project %q on server %q.\n", name, s.ctx.Server)
			return nil
		},
	}
	cmd.Flags().BoolVarP(&short, "short", "q", false, "print only the project's name")
	return cmd
}

func (a *App) newProjectCommand() *cobra.Command {
	var displayName, description string
	var skip bool
	cmd := &cobra.Command{
		Use:   "new-project NAME",
		Short: "Create a project and switch to it",
		Long:  "Create a project, of which you become the admin, and make it your current project.",
		Example: `  # Create the project "shop"
  slip new-project shop --display-name "Web shop" --description "The shop's front and back ends"`,
		Args: exactArgs("NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := a.session()
			if err != nil {
				return err
			}
			name := args[0]
			p := api.Project{Kind: "Project", APIVersion: api.Version, Metadata: api.ObjectMeta{Name: name},
				Spec: api.ProjectSpec{DisplayName: displayName, Description: description}}
			k, _ := a.kinds.Lookup(api.ProjectsResource)
			if err := s.client.Create(cmd.Context(), projectsResource, "", p, nil); err != nil {
				return failed("create", k, "", name, err)
			}
			if skip {
				fmt.Fprintf(a.Stdout, "Created project %q on server %q.\n", name, s.ctx.Server)
				return nil
			}
			s.ctx.Project = name
			if err := s.cfg.Save(); err != nil {
				return err
			}
			fmt.Fprintf(a.Stdout, "Now using project %q on server %q.\n", name, s.ctx.Server)
			return nil
		},
	}
	cmd.Flags().StringVar(&displayName, "display-name", "", "the project's name for people")
	cmd.Flags().StringVar(&description, "description", "", "what the project is for")
	cmd.Flags().BoolVar(&skip, "skip-config-write", false, "create the project without switching to it")
	return cmd
}
