package cli

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/slipway/slipway/api"
	"github.com/slipway/slipway/api/client"
	"github.com/slipway/slipway/api/errdefs"
	"github.com/slipway/slipway/cli/config"
)

// DefaultServer is the server of `slip login` without one: the API of
// `make run` and `slipway up`.
const DefaultServer = "https://localhost:8443"

type loginOptions struct {
	username, password string
	passwordStdin      bool
	token              string
	web, device        bool
	provider           string
	ca                 string
	insecure           bool
}

const loginExample = `  # Log in with a username and password (prompted for when missing)
  slip login https://localhost:8443 -u admin

  # Trust the server's self-signed certificate authority
  slip login https://localhost:8443 --certificate-authority ~/.local/share/slipway/pki/ca.crt

  # Read the password from a file or a secret store, never from the command line
  slip login https://localhost:8443 -u alice --password-stdin < password.txt

  # Log in with a token shown by the console
  slip login https://localhost:8443 --token sha256~...

  # Log in through the browser with an OIDC provider (device code when there is no browser)
  slip login https://localhost:8443 --web --provider sso`

func (a *App) loginCommand() *cobra.Command {
	var o loginOptions
	cmd := &cobra.Command{
		Use:   "login [SERVER]",
		Short: "Log in to a Slipway server",
		Long: `Log in to a Slipway server and remember the session as the current context.

Without SERVER, slip logs in again to the current context's server (or to
https://localhost:8443). The credential is kept in slip's configuration file,
readable only by you.`,
		Example: loginExample,
		Args:    cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.login(cmd.Context(), args, &o)
		},
	}
	f := cmd.Flags()
	f.StringVarP(&o.username, "username", "u", "", "the username to log in as")
	f.StringVarP(&o.password, "password", "p", "", "the password (prefer --password-stdin: the command line is visible to other users)")
	f.BoolVar(&o.passwordStdin, "password-stdin", false, "read the password from standard input")
	f.StringVar(&o.token, "token", "", "log in with this bearer token")
	f.BoolVar(&o.web, "web", false, "log in through a browser with an OIDC provider")
	f.BoolVar(&o.device, "device", false, "log in with an OIDC provider's device code (for machines without a browser)")
	f.StringVar(&o.provider, "provider", "", "the identity provider to log in with (default: the server's first)")
	f.StringVar(&o.ca, "certificate-authority", "", "a PEM file of the certificate authority that signed the server's certificate")
	f.BoolVar(&o.insecure, "insecure-skip-tls-verify", false, "do not check the server's certificate (insecure)")
	return cmd
}

func (o *loginOptions) validate() error {
	switch {
	case o.password != "" && o.passwordStdin:
		return usagef("--password and --password-stdin are mutually exclusive")
	case o.token != "" && (o.username != "" || o.password != "" || o.passwordStdin || o.web || o.device):
		return usagef("--token cannot be combined with --username, --password, --web or --device")
	case (o.web || o.device) && (o.password != "" || o.passwordStdin):
		return usagef("--web and --device log in through the identity provider: drop --password")
	case o.ca != "" && o.insecure:
		return usagef("--certificate-authority and --insecure-skip-tls-verify are mutually exclusive")
	}
	return nil
}

// normalizeServer accepts host:port and adds https://.
func normalizeServer(s string) string {
	if !strings.Contains(s, "://") {
		s = "https://" + s
	}
	return strings.TrimRight(s, "/")
}

func (a *App) login(ctx context.Context, args []string, o *loginOptions) error {
	if err := o.validate(); err != nil {
		return err
	}
	cfg, err := a.loadConfig()
	if err != nil {
		return err
	}
	current, _ := cfg.Current()
	server := DefaultServer
	switch {
	case len(args) == 1:
		server = normalizeServer(args[0])
	case current != nil:
		server = current.Server
	}
	// What earlier logins to this server remember.
	var previous *config.Context
	if known := cfg.ForServer(server); len(known) > 0 {
		previous = known[0]
	}
	ca, insecure := o.ca, o.insecure
	if ca != "" {
		if ca, err = filepath.Abs(ca); err != nil {
			return err
		}
	} else if !insecure && previous != nil {
		ca, insecure = previous.CertificateAuthority, previous.InsecureSkipTLSVerify
	}
	anon, err := newClient(server, ca, insecure, "")
	if err != nil {
		return err
	}

	var res loginResult
	how := "the password"
	switch {
	case o.token != "":
		res.Token, how = o.token, "the token provided"
	case o.web || o.device:
		if res, err = a.browserLogin(ctx, anon, server, o); err != nil {
			return err
		}
		how = "the identity provider " + o.provider
	default:
		if res, err = a.passwordLogin(ctx, anon, server, o, previous); err != nil {
			return err
		}
	}
	authed, err := newClient(server, ca, insecure, res.Token)
	if err != nil {
		return err
	}
	var me api.User
	if err := authed.Get(ctx, usersResource, "", "~", &me); err != nil {
		if errors.Is(err, errdefs.ErrUnauthorized) {
			return fmt.Errorf("login to %s failed: the token is not valid", server)
		}
		return failedTo("login to "+server, err)
	}
	user := me.Metadata.Name

	c := &config.Context{
		Name: config.ContextName(server, user), Server: server, User: user, Token: res.Token,
		CertificateAuthority: ca, InsecureSkipTLSVerify: insecure,
	}
	if old, ok := cfg.Context(c.Name); ok {
		c.Project = old.Project
	}
	projects, listErr := listProjects(ctx, authed)
	c.Project = chooseProject(c.Project, projects, listErr)
	cfg.Upsert(c)
	if err := cfg.Save(); err != nil {
		return err
	}
	w := a.Stdout
	fmt.Fprintf(w, "Logged into %q as %q using %s.\n", server, user, how)
	switch {
	case listErr != nil:
	case len(projects) == 0:
		fmt.Fprintf(w, "\nYou don't have any projects. Create one with:\n\n    slip new-project <projectname>\n")
	case c.Project != "":
		fmt.Fprintf(w, "\nUsing project %q.\n", c.Project)
	default:
		fmt.Fprintf(w, "\nYou have access to %d projects: list them with 'slip projects' and choose one with 'slip project <projectname>'.\n", len(projects))
	}
	return nil
}

// chooseProject keeps the project a context used before if it is still
// visible, else picks the only visible one.
func chooseProject(previous string, projects []api.Project, listErr error) string {
	if listErr != nil {
		return previous
	}
	for _, p := range projects {
		if p.Metadata.Name == previous {
			return previous
		}
	}
	if len(projects) == 1 {
		return projects[0].Metadata.Name
	}
	return ""
}

// loginResult is the answer of every login endpoint.
type loginResult struct {
	Token string `json:"token"`
	User  string `json:"user"`
}

func (a *App) passwordLogin(ctx context.Context, anon *client.Client, server string, o *loginOptions, previous *config.Context) (loginResult, error) {
	username, password := o.username, o.password
	fd, tty := a.stdinTerminal()
	if username == "" {
		if !tty || o.passwordStdin {
			return loginResult{}, usagef("no username: pass -u USERNAME (or --token, or --web)")
		}
		hint := ""
		if previous != nil && previous.User != "" {
			hint = previous.User
		}
		var err error
		if username, err = a.prompt(fmt.Sprintf("Username [%s]: ", hint)); err != nil {
			return loginResult{}, err
		}
		if username == "" {
			username = hint
		}
		if username == "" {
			return loginResult{}, errors.New("no username given")
		}
	}
	switch {
	case o.passwordStdin:
		p, err := readSecretLine(a.Stdin)
		if err != nil {
			return loginResult{}, fmt.Errorf("read the password from standard input: %w", err)
		}
		password = p
	case password == "" && tty:
		fmt.Fprint(a.Stderr, "Password: ")
		b, err := term.ReadPassword(fd)
		fmt.Fprintln(a.Stderr)
		if err != nil {
			return loginResult{}, fmt.Errorf("read the password: %w", err)
		}
		password = string(b)
	case password == "":
		return loginResult{}, usagef("no password: pass --password-stdin (or -p) when standard input is not a terminal")
	}
	body, _ := json.Marshal(map[string]string{"provider": o.provider, "username": username, "password": password})
	var res loginResult
	err := anon.Do(ctx, http.MethodPost, "/auth/login", "application/json", body, &res)
	switch {
	case errors.Is(err, errdefs.ErrUnauthorized):
		return res, fmt.Errorf("login to %s as %q failed: unknown user or wrong password", server, username)
	case errors.Is(err, errdefs.ErrTooManyRequests):
		return res, fmt.Errorf("login to %s as %q refused: too many attempts, try again in a minute", server, username)
	case err != nil:
		return res, failedTo("login to "+server, err)
	}
	return res, nil
}

// prompt reads one line from the terminal after showing a question.
func (a *App) prompt(question string) (string, error) {
	fmt.Fprint(a.Stderr, question)
	line, err := bufio.NewReader(a.Stdin).ReadString('\n')
	if err != nil && !(errors.Is(err, io.EOF) && line != "") {
		return "", fmt.Errorf("read answer: %w", err)
	}
	return strings.TrimSpace(line), nil
}

// readSecretLine reads a password or token: the first line of r.
func readSecretLine(r io.Reader) (string, error) {
	line, err := bufio.NewReader(r).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", err
	}
	line = strings.TrimRight(line, "\r\n")
	if line == "" {
		return "", errors.New("it is empty")
	}
	return line, nil
}

func (a *App) logoutCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "logout",
		Short: "Log out: revoke the session's token and forget it",
		Example: `  # End the current session
  slip logout`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			s, err := a.session()
			if err != nil {
				return err
			}
			err = s.client.Do(cmd.Context(), http.MethodPost, "/auth/logout", "", nil, nil)
			if err != nil && !errors.Is(err, errdefs.ErrUnauthorized) {
				// An already invalid token is as good as revoked.
				return failedTo("log out of "+s.ctx.Server, err)
			}
			s.ctx.Token = ""
			if err := s.cfg.Save(); err != nil {
				return err
			}
			fmt.Fprintf(a.Stdout, "Logged %q out on %q.\n", s.ctx.User, s.ctx.Server)
			return nil
		},
	}
}

func (a *App) whoamiCommand() *cobra.Command {
	var showToken, showServer, showContext bool
	cmd := &cobra.Command{
		Use:   "whoami",
		Short: "Show who you are logged in as",
		Example: `  # Your user name, checked with the server
  slip whoami

  # The token of the session, for curl or skopeo
  slip whoami -t

  # The server of the session
  slip whoami --show-server`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			s, err := a.session()
			if err != nil {
				return err
			}
			if showToken || showServer || showContext {
				if showServer {
					fmt.Fprintln(a.Stdout, s.ctx.Server)
				}
				if showContext {
					fmt.Fprintln(a.Stdout, s.ctx.Name)
				}
				if showToken {
					fmt.Fprintln(a.Stdout, s.ctx.Token)
				}
				return nil
			}
			var me api.User
			if err := s.client.Get(cmd.Context(), usersResource, "", "~", &me); err != nil {
				return failedTo("ask "+s.ctx.Server+" who you are", err)
			}
			fmt.Fprintln(a.Stdout, me.Metadata.Name)
			return nil
		},
	}
	cmd.Flags().BoolVarP(&showToken, "show-token", "t", false, "print the session's token instead")
	cmd.Flags().BoolVar(&showServer, "show-server", false, "print the session's server instead")
	cmd.Flags().BoolVarP(&showContext, "show-context", "c", false, "print the session's context name instead")
	return cmd
}

var usersResource = mustResource(api.UsersResource)

func mustResource(plural string) *api.Resource {
	r, ok := api.NewCatalogue().Lookup(plural)
	if !ok {
		panic("unknown resource " + plural)
	}
	return r
}

func loginStartURL(server, provider, then string) string {
	return server + "/auth/oidc/" + url.PathEscape(provider) + "/start?then=" + url.QueryEscape(then)
}
