package cli

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/slipway/slipway/cli/output"
)

func (a *App) configCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "config",
		Short: "Show and switch contexts (server, user and project sessions)",
		Long: `A context is one login: a server, the user logged in, the credential, the
certificate authority trusted and the current project. slip login creates
or refreshes them; these commands list and switch them.`,
		Example: `  # List the contexts, the current one starred
  slip config get-contexts

  # Switch to another login
  slip config use-context localhost:8443/alice`,
		Args: cobra.ArbitraryArgs,
		RunE: groupRun,
	}
	cmd.AddCommand(&cobra.Command{
		Use:     "get-contexts",
		Short:   "List the contexts",
		Example: "  slip config get-contexts",
		Args:    cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			cfg, err := a.loadConfig()
			if err != nil {
				return err
			}
			tw := output.NewTable(a.Stdout)
			fmt.Fprintln(tw, "CURRENT\tNAME\tSERVER\tUSER\tPROJECT")
			for _, c := range cfg.Contexts {
				cur := ""
				if c.Name == cfg.CurrentContext {
					cur = "*"
				}
				user := c.User
				if c.Token == "" {
					user += " (logged out)"
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", cur, c.Name, c.Server, user, c.Project)
			}
			return tw.Flush()
		},
	}, &cobra.Command{
		Use:     "current-context",
		Short:   "Print the current context's name",
		Example: "  slip config current-context",
		Args:    cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			cfg, err := a.loadConfig()
			if err != nil {
				return err
			}
			c, ok := cfg.Current()
			if !ok {
				return fmt.Errorf("no current context: run slip login SERVER")
			}
			fmt.Fprintln(a.Stdout, c.Name)
			return nil
		},
	}, &cobra.Command{
		Use:     "use-context NAME",
		Short:   "Make a context the current one",
		Example: "  slip config use-context localhost:8443/alice",
		Args:    exactArgs("NAME"),
		RunE: func(_ *cobra.Command, args []string) error {
			cfg, err := a.loadConfig()
			if err != nil {
				return err
			}
			if _, ok := cfg.Context(args[0]); !ok {
				return fmt.Errorf("no context named %q (slip config get-contexts lists them)", args[0])
			}
			cfg.CurrentContext = args[0]
			if err := cfg.Save(); err != nil {
				return err
			}
			fmt.Fprintf(a.Stdout, "Switched to context %q.\n", args[0])
			return nil
		},
	}, &cobra.Command{
		Use:     "delete-context NAME",
		Short:   "Forget a context (without revoking its token: use slip logout for that)",
		Example: "  slip config delete-context localhost:8443/alice",
		Args:    exactArgs("NAME"),
		RunE: func(_ *cobra.Command, args []string) error {
			cfg, err := a.loadConfig()
			if err != nil {
				return err
			}
			if !cfg.Delete(args[0]) {
				return fmt.Errorf("no context named %q (slip config get-contexts lists them)", args[0])
			}
			if err := cfg.Save(); err != nil {
				return err
			}
			fmt.Fprintf(a.Stdout, "Deleted context %q.\n", args[0])
			return nil
		},
	})
	return cmd
}
