package cli

import (
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/slipway/slipway/api"
)

var secretsResource = mustResource(api.SecretsResource)

// createCommand is `slip create`: typed creators for what is awkward to
// write as YAML (secrets, whose data is base64).
func (a *App) createCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "create secret generic|basic-auth|ssh-auth NAME [flags]",
		Short: "Create a secret from literals or files",
		Args:  cobra.ArbitraryArgs,
		RunE:  groupRun,
	}
	secret := &cobra.Command{
		Use:   "secret generic|basic-auth|ssh-auth NAME [flags]",
		Short: "Create a secret: repository credentials, webhook secrets, anything the view role must not read",
		Args:  cobra.ArbitraryArgs,
		RunE:  groupRun,
	}
	cmd.AddCommand(secret)

	var literals, files []string
	var typ string
	generic := &cobra.Command{
		Use:   "generic NAME [--from-literal K=V]... [--from-file K=PATH]... [--type TYPE]",
		Short: "A secret of keys and values",
		Example: `  slip create secret generic hooks --from-literal WebHookSecretKey=$(openssl rand -hex 16)
  slip create secret generic tls --from-file tls.crt=./cert.pem --from-file tls.key=./key.pem`,
		Args: exactArgs("NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			data := map[string][]byte{}
			for _, l := range literals {
				k, v, ok := strings.Cut(l, "=")
				if !ok || k == "" {
					return usagef("--from-literal %q: expected KEY=VALUE", l)
				}
				data[k] = []byte(v)
			}
			for _, f := range files {
				k, path, ok := strings.Cut(f, "=")
				if !ok {
					path, k = f, f[strings.LastIndex(f, "/")+1:]
				}
				b, err := os.ReadFile(path)
				if err != nil {
					return usagef("--from-file: %v", err)
				}
				data[k] = b
			}
			return a.createSecret(cmd, args[0], typ, data)
		},
	}
	generic.Flags().StringArrayVar(&literals, "from-literal", nil, "a key and its value, KEY=VALUE (repeatable)")
	generic.Flags().StringArrayVar(&files, "from-file", nil, "a key and the file holding its value, KEY=PATH or PATH (key: the file's name; repeatable)")
	generic.Flags().StringVar(&typ, "type", "", "the secret's type (default Opaque)")

	var username, password string
	basic := &cobra.Command{
		Use:     "basic-auth NAME --password TOKEN [--username USER]",
		Short:   "Credentials of a private Git repository over HTTPS (a token as the password)",
		Example: "  slip create secret basic-auth repo --password $GITHUB_TOKEN\n  slip new-app https://github.com/shop/private.git --source-secret repo",
		Args:    exactArgs("NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if password == "" {
				return usagef("--password is required")
			}
			data := map[string][]byte{api.BasicAuthPasswordKey: []byte(password)}
			if username != "" {
				data[api.BasicAuthUsernameKey] = []byte(username)
			}
			return a.createSecret(cmd, args[0], api.SecretTypeBasicAuth, data)
		},
	}
	basic.Flags().StringVar(&username, "username", "", "the user name (most Git servers ignore it with a token)")
	basic.Flags().StringVar(&password, "password", "", "the password or access token")

	var keyFile string
	ssh := &cobra.Command{
		Use:     "ssh-auth NAME --ssh-privatekey PATH",
		Short:   "Credentials of a private Git repository over SSH",
		Example: "  slip create secret ssh-auth repo-key --ssh-privatekey ~/.ssh/deploy_key",
		Args:    exactArgs("NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if keyFile == "" {
				return usagef("--ssh-privatekey is required")
			}
			key, err := os.ReadFile(keyFile)
			if err != nil {
				return usagef("--ssh-privatekey: %v", err)
			}
			return a.createSecret(cmd, args[0], api.SecretTypeSSHAuth, map[string][]byte{api.SSHAuthPrivateKey: key})
		},
	}
	ssh.Flags().StringVar(&keyFile, "ssh-privatekey", "", "the file of the private key")
	secret.AddCommand(generic, basic, ssh)
	return cmd
}

func (a *App) createSecret(cmd *cobra.Command, name, typ string, data map[string][]byte) error {
	s, project, err := a.projectSession()
	if err != nil {
		return err
	}
	obj := api.Secret{Kind: "Secret", APIVersion: api.Version, Metadata: api.ObjectMeta{Name: name}, Type: typ, Data: data}
	if err := s.client.Create(cmd.Context(), secretsResource, project, obj, nil); err != nil {
		return failedTo(fmt.Sprintf("create secret %q in project %q", name, project), err)
	}
	fmt.Fprintf(a.Stdout, "secret/%s created\n", name)
	return nil
}
