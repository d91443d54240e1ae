// Package cli is slip, Slipway's command-line client: sessions (login,
// logout, whoami, contexts), projects, the generic resource verbs (get,
// describe, apply, edit, delete, api-resources) and administration (users,
// role bindings). cmd/slip only calls Main.
//
// Exit codes: 0 success, 1 failure, 2 usage error. Errors are one line on
// stderr: "error: <message>".
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"golang.org/x/term"

	"github.com/slipway/slipway/cli/kinds"
	"github.com/slipway/slipway/internal/version"
)

// Exit codes.
const (
	ExitOK    = 0
	ExitError = 1
	ExitUsage = 2
)

// App is one run of slip: its streams, environment and global flags.
type App struct {
	Stdin  io.Reader
	Stdout io.Writer
	Stderr io.Writer
	// Getenv reads the environment.
	Getenv func(string) string
	// Now is the clock ages are computed against.
	Now func() time.Time
	// OpenBrowser opens a URL for `slip login --web`.
	OpenBrowser func(url string) error

	kinds *kinds.Registry

	// Global flags.
	project     string
	contextName string
	timeout     time.Duration
	cancel      context.CancelFunc
}

// Main runs slip with the process's arguments and streams and returns its
// exit code.
func Main() int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	a := &App{Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr, Getenv: os.Getenv, Now: time.Now, OpenBrowser: openBrowser}
	return a.Run(ctx, os.Args[1:])
}

// Run runs one command line and returns its exit code.
func (a *App) Run(ctx context.Context, args []string) int {
	a.kinds = kinds.NewRegistry()
	root := a.rootCommand()
	root.SetArgs(args)
	cmd, err := root.ExecuteContextC(ctx)
	if a.cancel != nil {
		a.cancel()
	}
	if err == nil {
		return ExitOK
	}
	var exit *exitCodeError
	if errors.As(err, &exit) {
		return exit.code
	}
	code := ExitError
	msg := oneLine(err.Error())
	var ue *usageError
	if errors.As(err, &ue) {
		code = ExitUsage
		if cmd != nil {
			msg += fmt.Sprintf(" (see '%s --help')", cmd.CommandPath())
		}
	}
	prefix := "error:"
	if a.colour(a.Stderr) {
		prefix = "\x1b[31merror:\x1b[0m"
	}
	fmt.Fprintln(a.Stderr, prefix, msg)
	return code
}

func oneLine(s string) string {
	return strings.Join(strings.Fields(strings.ReplaceAll(s, "\n", "; ")), " ")
}

// colour reports whether w is a terminal that may be coloured.
func (a *App) colour(w io.Writer) bool {
	if a.Getenv("NO_COLOR") != "" || a.Getenv("TERM") == "dumb" {
		return false
	}
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// stdinTerminal returns stdin's descriptor when it is a terminal.
func (a *App) stdinTerminal() (int, bool) {
	f, ok := a.Stdin.(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) {
		return 0, false
	}
	return int(f.Fd()), true
}

// usageError is a command line slip cannot run as typed (exit code 2).
type usageError struct{ err error }

func (e *usageError) Error() string { return e.err.Error() }
func (e *usageError) Unwrap() error { return e.err }

func usagef(format string, args ...any) error {
	return &usageError{fmt.Errorf(format, args...)}
}

const rootLong = `slip is the command-line client of Slipway, the terminal twin of the web console.

Log in, pick a project, then manage its resources the way you would with oc
or kubectl:

  slip login https://localhost:8443 -u admin
  slip new-project shop
  slip apply -f config.yaml
  slip get configmaps
  slip describe configmap web

The configuration (servers, users, tokens, current project) is kept in
$SLIPCONFIG, else $XDG_CONFIG_HOME/slip/config, else ~/.config/slip/config.`

func (a *App) rootCommand() *cobra.Command {
	root := &cobra.Command{
		Use:               "slip",
		Short:             "slip: the command-line client of Slipway",
		Long:              rootLong,
		SilenceUsage:      true,
		SilenceErrors:     true,
		Args:              cobra.ArbitraryArgs,
		RunE:              groupRun,
		PersistentPreRunE: a.preRun,
	}
	root.SetIn(a.Stdin)
	root.SetOut(a.Stdout)
	root.SetErr(a.Stderr)
	pf := root.PersistentFlags()
	pf.StringVarP(&a.project, "project", "n", "", "the project of project-scoped commands (default: the context's current project)")
	pf.StringVar(&a.contextName, "context", "", "the context to use instead of the current one")
	pf.DurationVar(&a.timeout, "request-timeout", 0, "give up after this long (e.g. 30s; 0 waits as long as it takes)")
	root.SetGlobalNormalizationFunc(func(_ *pflag.FlagSet, name string) pflag.NormalizedName {
		if name == "namespace" { // kubectl's and oc's name for it
			name = "project"
		}
		return pflag.NormalizedName(name)
	})
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return &usageError{err} })

	root.AddGroup(
		&cobra.Group{ID: "session", Title: "Sessions:"},
		&cobra.Group{ID: "project", Title: "Projects:"},
		&cobra.Group{ID: "resource", Title: "Resources:"},
		&cobra.Group{ID: "admin", Title: "Administration:"},
	)
	add := func(group string, cmds ...*cobra.Command) {
		for _, c := range cmds {
			c.GroupID = group
			root.AddCommand(c)
		}
	}
	add("session", a.loginCommand(), a.logoutCommand(), a.whoamiCommand(), a.configCommand())
	add("project", a.projectsCommand(), a.projectCommand(), a.newProjectCommand(), a.statusCommand())
	add("resource", a.getCommand(), a.describeCommand(), a.applyCommand(), a.editCommand(), a.deleteCommand(), a.apiResourcesCommand(),
		a.logsCommand(), a.execCommand(), a.scaleCommand(), a.rolloutCommand(), a.setCommand(), a.exposeCommand(),
		a.newAppCommand(), a.newBuildCommand(), a.startBuildCommand(), a.cancelBuildCommand(), a.createCommand())
	add("admin", a.admCommand(), a.policyCommand("policy", false))
	root.AddCommand(&cobra.Command{
		Use:   "version",
		Short: "Print the version of slip",
		Args:  cobra.NoArgs,
		Run:   func(cmd *cobra.Command, _ []string) { fmt.Fprintln(cmd.OutOrStdout(), "slip", version.String()) },
	})
	root.InitDefaultCompletionCmd()
	markUsage(root)
	return root
}

func (a *App) preRun(cmd *cobra.Command, _ []string) error {
	if a.timeout > 0 {
		ctx, cancel := context.WithTimeout(cmd.Context(), a.timeout)
		cmd.SetContext(ctx)
		a.cancel = cancel
	}
	return nil
}

// groupRun runs a command that only groups others: alone it shows its
// help, with an argument it names the unknown subcommand.
func groupRun(cmd *cobra.Command, args []string) error {
	if len(args) == 0 {
		return cmd.Help()
	}
	msg := fmt.Sprintf("unknown command %q for %q", args[0], cmd.CommandPath())
	if cmd.SuggestionsMinimumDistance <= 0 {
		cmd.SuggestionsMinimumDistance = 2
	}
	if s := cmd.SuggestionsFor(args[0]); len(s) > 0 {
		msg += fmt.Sprintf("; did you mean %q?", s[0])
	}
	return usagef("%s", msg)
}

// markUsage makes every argument-count error a usage error.
func markUsage(c *cobra.Command) {
	if inner := c.Args; inner != nil {
		c.Args = func(cmd *cobra.Command, args []string) error {
			if err := inner(cmd, args); err != nil {
				return &usageError{err}
			}
			return nil
		}
	}
	for _, sub := range c.Commands() {
		markUsage(sub)
	}
}

// exactArgs is cobra.ExactArgs with a message naming what is missing.
func exactArgs(names ...string) cobra.PositionalArgs {
	return func(_ *cobra.Command, args []string) error {
		if len(args) != len(names) {
			return fmt.Errorf("expected %d argument(s) %s, got %d", len(names), strings.Join(names, " "), len(args))
		}
		return nil
	}
}

// minArgs requires at least the named arguments.
func minArgs(names ...string) cobra.PositionalArgs {
	return func(_ *cobra.Command, args []string) error {
		if len(args) < len(names) {
			return fmt.Errorf("missing argument %s", strings.Join(names[len(args):], " "))
		}
		return nil
	}
}
