package cli

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"

	"github.com/spf13/cobra"
	"sigs.k8s.io/yaml"
)

const editHeader = `# Edit the object below; save and quit to update it. Lines starting with '#'
# are ignored, and an empty file cancels the edit.
#
`

func (a *App) editCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "edit KIND NAME",
		Short: "Edit an object in your editor",
		Long: `Open an object as YAML in $SLIP_EDITOR, else $EDITOR, else vi, and replace it
with what you save. The object is replaced only if nobody changed it
meanwhile (its resourceVersion); otherwise edit it again.`,
		Example: `  # Edit the config map "web" of the current project
  slip edit configmap web

  # With another editor
  EDITOR=nano slip edit cm/web`,
		Args: cobra.RangeArgs(1, 2),
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
			if len(targets) != 1 || targets[0].name == "" {
				return usagef("name one object to edit: slip edit KIND NAME")
			}
			t := targets[0]
			project, err := a.scope(s, t.kind)
			if err != nil {
				return err
			}
			obj, err := getObject(ctx, s, t.kind, project, t.name)
			if err != nil {
				return failed("edit", t.kind, project, t.name, err)
			}
			y, err := yaml.JSONToYAML(obj.Raw)
			if err != nil {
				return err
			}
			f, err := os.CreateTemp("", "slip-edit-*.yaml")
			if err != nil {
				return err
			}
			defer os.Remove(f.Name())
			if _, err := f.WriteString(editHeader + string(y)); err != nil {
				f.Close()
				return err
			}
			if err := f.Close(); err != nil {
				return err
			}
			if err := a.runEditor(f.Name()); err != nil {
				return err
			}
			edited, err := os.ReadFile(f.Name())
			if err != nil {
				return err
			}
			body := stripComments(edited)
			if len(bytes.TrimSpace(body)) == 0 {
				fmt.Fprintln(a.Stdout, "Edit cancelled: the file is empty.")
				return nil
			}
			js, err := yaml.YAMLToJSON(body)
			if err != nil {
				return fmt.Errorf("the edited object is not valid YAML: %w", err)
			}
			if sameJSON(js, obj.Raw) {
				fmt.Fprintln(a.Stdout, "Edit cancelled, no changes made.")
				return nil
			}
			if err := s.client.Update(ctx, t.kind.Resource, project, t.name, js, nil); err != nil {
				return failed("update", t.kind, project, t.name, err)
			}
			fmt.Fprintf(a.Stdout, "%s/%s edited\n", t.kind.Singular, t.name)
			return nil
		},
	}
}

// runEditor runs the user's editor on file through the shell, so editors
// given with arguments ("code --wait") work.
func (a *App) runEditor(file string) error {
	editor := a.Getenv("SLIP_EDITOR")
	if editor == "" {
		editor = a.Getenv("EDITOR")
	}
	if editor == "" {
		editor = "vi"
	}
	cmd := exec.Command("sh", "-c", editor+` "$1"`, "sh", file)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = a.Stdin, a.Stdout, a.Stderr
	if err := cmd.Run(); err != nil {
		var exit *exec.ExitError
		if errors.As(err, &exit) {
			return fmt.Errorf("editor %q failed (%v): nothing changed", editor, err)
		}
		return fmt.Errorf("run editor %q: %w", editor, err)
	}
	return nil
}

func stripComments(b []byte) []byte {
	var out bytes.Buffer
	for line := range strings.SplitSeq(string(b), "\n") {
		if strings.HasPrefix(strings.TrimSpace(line), "#") {
			continue
		}
		out.WriteString(line)
		out.WriteByte('\n')
	}
	return out.Bytes()
}
