package cli

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/slipway/slipway/api"
	"github.com/slipway/slipway/api/client"
	"github.com/slipway/slipway/cli/config"
	"github.com/slipway/slipway/cli/kinds"
)

// session is a logged-in context and a client for it.
type session struct {
	cfg    *config.Config
	ctx    *config.Context
	client *client.Client
}

func (a *App) loadConfig() (*config.Config, error) {
	path, err := config.Path(a.Getenv)
	if err != nil {
		return nil, err
	}
	return config.Load(path)
}

// activeContext returns the context this command uses: --context, else
// the current one.
func (a *App) activeContext(cfg *config.Config) (*config.Context, error) {
	if a.contextName != "" {
		c, ok := cfg.Context(a.contextName)
		if !ok {
			return nil, fmt.Errorf("no context named %q (slip config get-contexts lists them)", a.contextName)
		}
		return c, nil
	}
	c, ok := cfg.Current()
	if !ok {
		return nil, errors.New("not logged in: run slip login SERVER")
	}
	return c, nil
}

// session opens the active context; it must hold a token.
func (a *App) session() (*session, error) {
	cfg, err := a.loadConfig()
	if err != nil {
		return nil, err
	}
	c, err := a.activeContext(cfg)
	if err != nil {
		return nil, err
	}
	if c.Token == "" {
		return nil, fmt.Errorf("not logged in to %s: run slip login %s", c.Server, c.Server)
	}
	cl, err := newClient(c.Server, c.CertificateAuthority, c.InsecureSkipTLSVerify, c.Token)
	if err != nil {
		return nil, err
	}
	return &session{cfg: cfg, ctx: c, client: cl}, nil
}

func newClient(server, ca string, insecure bool, token string) (*client.Client, error) {
	return client.New(client.Config{Server: server, CAFile: ca, InsecureSkipVerify: insecure, Token: token})
}

// projectOf returns the project a project-scoped command works in: -n,
// else the context's current project.
func (a *App) projectOf(s *session) (string, error) {
	if a.project != "" {
		return a.project, nil
	}
	if s.ctx.Project != "" {
		return s.ctx.Project, nil
	}
	return "", errors.New("no project selected: pass -n PROJECT, or choose one with slip project NAME (slip projects lists them)")
}

// kind resolves a name the user typed to a kind, asking the server's
// discovery document about names this CLI does not know.
func (a *App) kind(ctx context.Context, s *session, name string) (*kinds.Kind, error) {
	if k, ok := a.kinds.Lookup(name); ok {
		return k, nil
	}
	if s != nil {
		if served, err := discover(ctx, s); err == nil {
			a.kinds.Learn(served)
			if k, ok := a.kinds.Lookup(name); ok {
				return k, nil
			}
		}
	}
	return nil, usagef("unknown resource type %q (slip api-resources lists them)", name)
}

func discover(ctx context.Context, s *session) ([]kinds.Discovered, error) {
	var doc struct {
		Resources []kinds.Discovered `json:"resources"`
	}
	if err := s.client.Do(ctx, http.MethodGet, "/api/v1", "", nil, &doc); err != nil {
		return nil, fmt.Errorf("discover the server's resources: %w", err)
	}
	return doc.Resources, nil
}

// opError is a failed operation on a named object. It shows the API's
// reason and message, prefixed with the operation unless the message
// already names the object.
type opError struct {
	op  string // create configmap "web" in project "shop"
	ref string // configmap "web"
	err error
}

func (e *opError) Error() string {
	var se *api.StatusError
	if errors.As(e.err, &se) {
		// The server's messages may end with their class, which the
		// reason already says.
		text := strings.TrimSuffix(se.Status.Message, ": "+se.Status.Reason)
		msg := se.Status.Reason + ": " + text
		if e.ref != "" && strings.Contains(se.Status.Message, e.ref) {
			return msg
		}
		return e.op + ": " + msg
	}
	return e.op + ": " + explain(e.err)
}

func (e *opError) Unwrap() error { return e.err }

// failed wraps err from an operation on an object of kind k.
func failed(verb string, k *kinds.Kind, project, name string, err error) error {
	ref := k.Ref(name)
	op := verb + " " + ref
	if k.ProjectScoped() && project != "" {
		op += fmt.Sprintf(" in project %q", project)
	}
	return &opError{op: op, ref: ref, err: err}
}

// failedTo wraps err from an operation that names no single object.
func failedTo(op string, err error) error { return &opError{op: op, err: err} }

// explain turns transport errors into advice.
func explain(err error) string {
	var unknownCA x509.UnknownAuthorityError
	var verify *tls.CertificateVerificationError
	if errors.As(err, &unknownCA) || errors.As(err, &verify) {
		return "the server's certificate is not trusted: pass --certificate-authority <data-dir>/pki/ca.crt to slip login (or --insecure-skip-tls-verify): " + err.Error()
	}
	return err.Error()
}

// projectSession is a session and the project a project-scoped command
// acts in.
func (a *App) projectSession() (*session, string, error) {
	s, err := a.session()
	if err != nil {
		return nil, "", err
	}
	project, err := a.projectOf(s)
	if err != nil {
		return nil, "", err
	}
	return s, project, nil
}
