package httpapi

import (
	"context"
	"fmt"
	"html/template"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/slipway/slipway/api"
	"github.com/slipway/slipway/api/errdefs"
	"github.com/slipway/slipway/auth/authn"
	"github.com/slipway/slipway/auth/local"
	"github.com/slipway/slipway/auth/login"
	"github.com/slipway/slipway/server/store"
)

type callerKey struct{}

// callerFrom returns the request's authenticated caller (anonymous when the
// request carried no token).
func callerFrom(ctx context.Context) authn.Caller {
	c, ok := ctx.Value(callerKey{}).(authn.Caller)
	if !ok {
		return authn.Caller{UserInfo: authn.Anonymous}
	}
	return c
}

// authenticate identifies the caller of every request it wraps; a bad token
// is refused here, before anything else runs.
func (h *Handler) authenticate(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		caller, err := h.cfg.Authenticator.Authenticate(r)
		if err != nil {
			w.Header().Set("WWW-Authenticate", `Bearer realm="slipway"`)
			h.writeError(w, r, err)
			return
		}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), callerKey{}, caller)))
	})
}

// clientAddress identifies the client for rate limiting.
func clientAddress(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

func (h *Handler) routeAuth(r chi.Router) {
	r.Get("/auth/providers", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]any{"providers": h.cfg.Login.Providers()})
	})
	r.Post("/auth/login", h.passwordLogin)
	r.With(h.authenticate).Post("/auth/logout", h.logout)
	r.With(h.authenticate).Post("/auth/token", h.freshToken)
	r.Get("/auth/oidc/{provider}/start", h.oidcStart)
	r.Get("/auth/oidc/{provider}/callback", h.oidcCallback)
	r.Post("/auth/oidc/{provider}/device", h.deviceStart)
	r.Post("/auth/oidc/{provider}/device/token", h.deviceToken)
	r.With(h.authenticate).Post("/auth/groups/sync", h.syncGroups)
}

// groupSyncRequest is the body of POST /auth/groups/sync.
type groupSyncRequest struct {
	Provider string `json:"provider"`
	// Confirm applies the changes; without it the answer only lists them.
	Confirm bool `json:"confirm,omitempty"`
}

// syncGroups makes an LDAP provider's groups match the directory. It takes
// the right to create and delete groups (cluster-admin by default).
func (h *Handler) syncGroups(w http.ResponseWriter, r *http.Request) {
	var req groupSyncRequest
	if err := h.readJSON(w, r, &req); err != nil {
		h.writeError(w, r, err)
		return
	}
	groups, _ := h.cfg.Catalogue.Lookup(api.GroupsResource)
	caller := callerFrom(r.Context())
	for _, verb := range []string{"create", "update", "delete"} {
		if _, err := h.authorize(r.Context(), caller, verb, target{res: groups}); err != nil {
			h.writeError(w, r, err)
			return
		}
	}
	changes, err := h.cfg.Login.SyncLDAPGroups(r.Context(), req.Provider, req.Confirm)
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"provider": req.Provider, "confirmed": req.Confirm, "changes": changes})
}

// loginRequest is the body of POST /auth/login.
type loginRequest struct {
	Provider string `json:"provider,omitempty"`
	Username string `json:"username"`
	Password string `json:"password"`
}

func (h *Handler) readJSON(w http.ResponseWriter, r *http.Request, v any) error {
	body, err := h.readBody(w, r, false)
	if err != nil {
		return err
	}
	return api.DecodeStrict(body, v, "")
}

func (h *Handler) passwordLogin(w http.ResponseWriter, r *http.Request) {
	var req loginRequest
	if err := h.readJSON(w, r, &req); err != nil {
		h.writeError(w, r, err)
		return
	}
	res, err := h.cfg.Login.PasswordLogin(r.Context(), req.Provider, req.Username, req.Password, clientAddress(r))
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, res)
}

func (h *Handler) logout(w http.ResponseWriter, r *http.Request) {
	caller := callerFrom(r.Context())
	if caller.TokenName == "" {
		h.writeError(w, r, authn.ErrUnauthenticated)
		return
	}
	obj, err := h.cfg.Issuer.Revoke(store.WithProject(r.Context(), ""), caller.TokenName)
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	if obj != nil {
		h.settle(r.Context(), obj) // the token stops working here before we say so
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "logged out"})
}

// freshToken issues the caller a new token of their own (the console's
// "copy login command"): it outlives the browser session's token, so
// logging out of the console does not log the terminal out.
func (h *Handler) freshToken(w http.ResponseWriter, r *http.Request) {
	caller := callerFrom(r.Context())
	switch {
	case caller.Name == "":
		h.writeError(w, r, authn.ErrUnauthenticated)
		return
	case caller.ServiceAccount:
		h.writeError(w, r, fmt.Errorf("service accounts get tokens through their token subresource: %w", errdefs.ErrForbidden))
		return
	}
	ttl := h.cfg.Login.TokenMaxAge()
	token, obj, err := h.cfg.Issuer.Issue(store.WithProject(r.Context(), ""), api.TokenSpec{
		User: caller.Name, Kind: api.LoginToken, Description: "requested for a terminal (copy login command)"}, ttl)
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	h.settle(r.Context(), obj)
	writeJSON(w, http.StatusOK, login.Result{Token: token, User: caller.Name, ExpiresAt: time.Now().Add(ttl).UTC().Truncate(time.Second)})
}

// validThen accepts where a browser login may return to: a path of this
// server's console, or a loopback URL (the CLI's `slip login --web`).
func validThen(then string) bool {
	if then == "" {
		return true
	}
	if strings.HasPrefix(then, "/") && !strings.HasPrefix(then, "//") && !strings.Contains(then, `\`) {
		return true
	}
	u, err := url.Parse(then)
	if err != nil || u.Scheme != "http" || u.User != nil {
		return false
	}
	ip := net.ParseIP(u.Hostname())
	return ip != nil && ip.IsLoopback()
}

func (h *Handler) oidcStart(w http.ResponseWriter, r *http.Request) {
	then := r.URL.Query().Get("then")
	if !validThen(then) {
		h.writeError(w, r, errdefs.BadRequestf("then", "must be a console path or a loopback http URL"))
		return
	}
	authURL, err := h.cfg.Login.BeginOIDC(chi.URLParam(r, "provider"), then)
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	http.Redirect(w, r, authURL, http.StatusFound)
}

var tokenPage = template.Must(template.New("token").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Slipway login</title></head>
<body><main>
<h1>Logged in as {{.User}}</h1>
<p>Your token (valid until {{.ExpiresAt}}):</p>
<pre aria-label="token">{{.Token}}</pre>
<p>Log in from a terminal with:</p>
<pre aria-label="login command">slip login {{.Server}} --token {{.Token}}</pre>
</main></body></html>
`))

func (h *Handler) oidcCallback(w http.ResponseWriter, r *http.Request) {
	res, then, err := h.cfg.Login.CompleteOIDC(r.Context(), chi.URLParam(r, "provider"), r.URL.Query())
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	switch {
	case strings.HasPrefix(then, "http://"):
		// The CLI's loopback listener receives the token.
		u, _ := url.Parse(then)
		q := u.Query()
		q.Set("token", res.Token)
		u.RawQuery = q.Encode()
		http.Redirect(w, r, u.String(), http.StatusFound)
	case then != "":
		// The console reads the token from the fragment, which never
		// reaches a server log.
		http.Redirect(w, r, then+"#token="+url.QueryEscape(res.Token), http.StatusFound)
	default:
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		_ = tokenPage.Execute(w, map[string]string{
			"User": res.User, "Token": res.Token, "ExpiresAt": res.ExpiresAt.Format(time.RFC3339),
			"Server": "https://" + r.Host,
		})
	}
}

func (h *Handler) deviceStart(w http.ResponseWriter, r *http.Request) {
	d, err := h.cfg.Login.BeginDevice(r.Context(), chi.URLParam(r, "provider"))
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, d)
}

func (h *Handler) deviceToken(w http.ResponseWriter, r *http.Request) {
	var d login.Device
	if err := h.readJSON(w, r, &d); err != nil {
		h.writeError(w, r, err)
		return
	}
	res, err := h.cfg.Login.CompleteDevice(r.Context(), chi.URLParam(r, "provider"), d)
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, res)
}

// passwordChange is the body of PUT /api/v1/users/{name}/password.
type passwordChange struct {
	Password        string `json:"password"`
	CurrentPassword string `json:"currentPassword,omitempty"`
}

// setPassword sets a local account's password. The authorizer has allowed
// the caller; a user changing their own password must also prove the
// current one (an admin resetting another's does not).
func (h *Handler) setPassword(w http.ResponseWriter, r *http.Request, user string, self bool) {
	var req passwordChange
	if err := h.readJSON(w, r, &req); err != nil {
		h.writeError(w, r, err)
		return
	}
	ctx := r.Context()
	users, _ := h.cfg.Catalogue.Lookup(api.UsersResource)
	if _, err := h.cfg.Service.Get(store.WithProject(ctx, ""), users, user); err != nil {
		h.writeError(w, r, err)
		return
	}
	if self {
		p := &local.Provider{ProviderName: "local", Hashes: h.cfg.Passwords}
		if _, err := p.Authenticate(ctx, user, req.CurrentPassword); err != nil {
			h.writeError(w, r, errdefs.Invalidf("currentPassword", "does not match"))
			return
		}
	}
	hash, err := local.Hash(req.Password)
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	if err := h.cfg.Passwords.SetPasswordHash(ctx, user, hash); err != nil {
		h.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "password set"})
}

// TokenRequest is the body of POST …/serviceaccounts/{name}/token.
type TokenRequest struct {
	Description string `json:"description,omitempty"`
	// ExpiresInSeconds of 0 issues a token that does not expire.
	ExpiresInSeconds int64 `json:"expiresInSeconds,omitempty"`
}

// IssuedToken answers a token request; the token is shown only here.
type IssuedToken struct {
	Token string     `json:"token"`
	Name  string     `json:"name"`
	User  string     `json:"user"`
	Spec  *api.Token `json:"object,omitempty"`
}

func (h *Handler) issueServiceAccountToken(w http.ResponseWriter, r *http.Request, project, name string) {
	var req TokenRequest
	if r.ContentLength != 0 {
		if err := h.readJSON(w, r, &req); err != nil {
			h.writeError(w, r, err)
			return
		}
	}
	if req.ExpiresInSeconds < 0 {
		h.writeError(w, r, errdefs.Invalidf("expiresInSeconds", "must not be negative"))
		return
	}
	sas, _ := h.cfg.Catalogue.Lookup(api.ServiceAccountsResource)
	if _, err := h.cfg.Service.Get(r.Context(), sas, name); err != nil {
		h.writeError(w, r, err)
		return
	}
	user := api.ServiceAccountUser(project, name)
	token, obj, err := h.cfg.Issuer.Issue(r.Context(), api.TokenSpec{User: user, Kind: api.ServiceAccountToken, Description: req.Description},
		time.Duration(req.ExpiresInSeconds)*time.Second)
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, IssuedToken{Token: token, Name: obj.Metadata.Name, User: user})
}
