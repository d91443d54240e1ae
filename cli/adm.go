package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/slipway/slipway/api"
	"github.com/slipway/slipway/api/client"
)

func (a *App) admCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "adm",
		Short: "Administer the cluster: users, role bindings, groups, nodes and usage",
		Example: `  # Create a local user, then let them read the project "shop"
  echo 's3cret-passw0rd' | slip adm users create alice --password-stdin
  slip adm policy add-role-to-user view alice -n shop`,
		Args: cobra.ArbitraryArgs,
		RunE: groupRun,
	}
	cmd.AddCommand(a.usersCommand(), a.policyCommand("policy", true), a.groupsCommand())
	cmd.AddCommand(a.nodeCommands()...)
	cmd.AddCommand(a.topCommand())
	return cmd
}

// groupChange is one line of a group sync's answer.
type groupChange struct {
	Group   string   `json:"group"`
	Action  string   `json:"action"`
	Users   []string `json:"users"`
	Applied bool     `json:"applied"`
}

func (a *App) groupsCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "groups",
		Short: "Manage groups that come from identity providers",
		Args:  cobra.ArbitraryArgs,
		RunE:  groupRun,
	}
	var confirm bool
	sync := &cobra.Command{
		Use:   "sync PROVIDER",
		Short: "Make an LDAP provider's groups match the directory (a dry run unless --confirm)",
		Example: `  # See what would change, then apply it
  slip adm groups sync corp
  slip adm groups sync corp --confirm`,
		Args: exactArgs("PROVIDER"),
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := a.session()
			if err != nil {
				return err
			}
			body, _ := json.Marshal(map[string]any{"provider": args[0], "confirm": confirm})
			var res struct{ Changes []groupChange }
			if err := s.client.Do(cmd.Context(), http.MethodPost, "/auth/groups/sync", "application/json", body, &res); err != nil {
				return failedTo("sync the groups of "+args[0], err)
			}
			if len(res.Changes) == 0 {
				fmt.Fprintf(a.Stdout, "groups of %s are in sync\n", args[0])
				return nil
			}
			for _, c := range res.Changes {
				state := "would"
				if c.Applied {
					state = "did"
				}
				fmt.Fprintf(a.Stdout, "%s %s group %s (%d members)\n", state, c.Action, c.Group, len(c.Users))
			}
			if !confirm {
				fmt.Fprintln(a.Stdout, "dry run: run again with --confirm to apply")
			}
			return nil
		},
	}
	sync.Flags().BoolVar(&confirm, "confirm", false, "apply the changes (without it, only show them)")
	cmd.AddCommand(sync)
	return cmd
}

func (a *App) usersCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "users",
		Short: "Manage local user accounts",
		Example: `  slip adm users create alice --password-stdin < password.txt
  slip adm users set-password alice --password-stdin < new-password.txt
  slip adm users delete alice`,
		Args: cobra.ArbitraryArgs,
		RunE: groupRun,
	}
	var pw passwordFlags
	var displayName, email, provider string
	create := &cobra.Command{
		Use:   "create NAME",
		Short: "Create a user who logs in with a local password",
		Example: `  # Create alice with a password read from standard input
  echo 's3cret-passw0rd' | slip adm users create alice --password-stdin --display-name "Alice Liddell"`,
		Args: exactArgs("NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, name := cmd.Context(), args[0]
			password, err := a.newPassword(&pw, false)
			if err != nil {
				return err
			}
			s, err := a.session()
			if err != nil {
				return err
			}
			k, _ := a.kinds.Lookup(api.UsersResource)
			u := api.User{Kind: "User", APIVersion: api.Version, Metadata: api.ObjectMeta{Name: name},
				Spec: api.UserSpec{DisplayName: displayName, Email: email, Identities: []string{provider + ":" + name}}}
			if err := s.client.Create(ctx, usersResource, "", u, nil); err != nil {
				return failed("create", k, "", name, err)
			}
			if password == "" {
				fmt.Fprintf(a.Stdout, "user %q created without a password: set one with slip adm users set-password %s\n", name, name)
				return nil
			}
			if err := setPassword(ctx, s.client, name, password); err != nil {
				return failed(`set the password of`, k, "", name, err)
			}
			fmt.Fprintf(a.Stdout, "user %q created\n", name)
			return nil
		},
	}
	pw.register(create)
	create.Flags().StringVar(&displayName, "display-name", "", "the user's name for people")
	create.Flags().StringVar(&email, "email", "", "the user's email address")
	create.Flags().StringVar(&provider, "identity-provider", "local", "the password identity provider the user logs in with")

	var setPW passwordFlags
	set := &cobra.Command{
		Use:     "set-password NAME",
		Short:   "Set or reset a local user's password",
		Example: `  slip adm users set-password alice --password-stdin < new-password.txt`,
		Args:    exactArgs("NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			password, err := a.newPassword(&setPW, true)
			if err != nil {
				return err
			}
			s, err := a.session()
			if err != nil {
				return err
			}
			k, _ := a.kinds.Lookup(api.UsersResource)
			if err := setPassword(cmd.Context(), s.client, args[0], password); err != nil {
				return failed("set the password of", k, "", args[0], err)
			}
			fmt.Fprintf(a.Stdout, "password of user %q set\n", args[0])
			return nil
		},
	}
	setPW.register(set)

	del := &cobra.Command{
		Use:     "delete NAME...",
		Short:   "Delete users",
		Example: `  slip adm users delete alice`,
		Args:    minArgs("NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := a.session()
			if err != nil {
				return err
			}
			k, _ := a.kinds.Lookup(api.UsersResource)
			var errs []error
			for _, name := range args {
				if err := s.client.Delete(cmd.Context(), usersResource, "", name, nil); err != nil {
					errs = append(errs, failed("delete", k, "", name, err))
					continue
				}
				fmt.Fprintf(a.Stdout, "user %q deleted\n", name)
			}
			return errors.Join(errs...)
		},
	}
	cmd.AddCommand(create, set, del)
	return cmd
}

type passwordFlags struct {
	password string
	stdin    bool
}

func (p *passwordFlags) register(cmd *cobra.Command) {
	cmd.Flags().BoolVar(&p.stdin, "password-stdin", false, "read the password from standard input")
	cmd.Flags().StringVarP(&p.password, "password", "p", "", "the password (prefer --password-stdin)")
}

// newPassword reads a password to set: from the flags, stdin, or asked
// twice on a terminal. Without any and no terminal it is "" unless
// required.
func (a *App) newPassword(p *passwordFlags, required bool) (string, error) {
	switch {
	case p.stdin && p.password != "":
		return "", usagef("--password and --password-stdin are mutually exclusive")
	case p.stdin:
		pw, err := readSecretLine(a.Stdin)
		if err != nil {
			return "", fmt.Errorf("read the password from standard input: %w", err)
		}
		return pw, nil
	case p.password != "":
		return p.password, nil
	}
	fd, tty := a.stdinTerminal()
	if !tty {
		if required {
			return "", usagef("no password: pass --password-stdin when standard input is not a terminal")
		}
		return "", nil
	}
	fmt.Fprint(a.Stderr, "New password: ")
	first, err := term.ReadPassword(fd)
	fmt.Fprintln(a.Stderr)
	if err != nil {
		return "", err
	}
	fmt.Fprint(a.Stderr, "Repeat it: ")
	second, err := term.ReadPassword(fd)
	fmt.Fprintln(a.Stderr)
	if err != nil {
		return "", err
	}
	if string(first) != string(second) {
		return "", errors.New("the passwords differ")
	}
	return string(first), nil
}

func setPassword(ctx context.Context, c *client.Client, user, password string) error {
	body, _ := json.Marshal(map[string]string{"password": password})
	return c.Do(ctx, http.MethodPut, "/api/v1/users/"+url.PathEscape(user)+"/password", "application/json", body, nil)
}
