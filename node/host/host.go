// Package host runs a whole Slipway node on this machine: a private
// containerd (unless one is given), the pod network, the node agent, and
// the agent's HTTPS endpoint for logs and exec, which only the API server
// may call (mutual TLS with the cluster CA). `slipway node` and
// `slipway up` both use it.
package host

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/containerd/containerd/v2/pkg/namespaces"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/slipway/slipway/api"
	"github.com/slipway/slipway/api/client"
	"github.com/slipway/slipway/builder"
	"github.com/slipway/slipway/builder/images"
	"github.com/slipway/slipway/node/agent"
	"github.com/slipway/slipway/node/cninet"
	"github.com/slipway/slipway/node/containerd"
	"github.com/slipway/slipway/node/imagepull"
	"github.com/slipway/slipway/node/podspec"
	"github.com/slipway/slipway/node/runtime"
	"github.com/slipway/slipway/server/pki"
)

// DefaultPodSubnet is the pod address range of a node on the bridge
// network.
const DefaultPodSubnet = "10.128.0.0/16"

// Config configures a node.
type Config struct {
	// Name is the node's name (default: the host name).
	Name string
	// Dir holds the node's state: containerd, pod network, logs, certificate.
	Dir string
	// Client talks to the API with the node's service-account token.
	Client *client.Client
	// Listen is the agent endpoint's address (default 127.0.0.1:0 — only
	// the API server on this machine can reach it; use 0.0.0.0:10250 when
	// the API server runs elsewhere).
	Listen string
	// Advertise is the address the API server uses to reach the endpoint
	// (default: the listener's address).
	Advertise string
	// PodSubnet is the bridge network's pod range (default DefaultPodSubnet).
	PodSubnet string
	// Bridge is the Linux bridge's name (default slipway0).
	Bridge string
	// Namespace is the containerd namespace of the node's pods (default
	// slipway).
	Namespace string
	// RegistryHost is Slipway's image registry as image references name
	// it (default: the host and port of the API server's URL, where the
	// registry is served); the node pulls its images with its own token.
	RegistryHost string
	// BuilderImages is a directory of builder image archives (*.oci.tar,
	// `make images`) imported into the node's containerd at start as
	// RegistryHost/slipway-system/s2i-<lang>:latest, so builds need no
	// pull; "" imports none.
	BuilderImages string
	// BuilderImagesToken, when set, pushes the imported builder images to
	// the registry with this token (one that may push to slipway-system),
	// so that the images resource lists them and other nodes pull them.
	BuilderImagesToken string
	// OVN, when set, attaches pods to the OVN network (a chassis under
	// Dir/ovn) instead of the bridge; PodSubnet and Bridge are then unused.
	OVN *OVNConfig
	// LogBinary is the program containerd's shim runs to write each
	// container's log (runtime.Options.LogBinary): slipway-container-log.
	LogBinary string
	// Agent tunes the agent (intervals, back-off); Name, Client, Runtime,
	// versions and DaemonEndpoint are filled in.
	Agent      agent.Config
	Registerer prometheus.Registerer
	Logger     *slog.Logger
}

// Node is a running node.
type Node struct {
	log        *slog.Logger
	containerd *containerd.Daemon
	agent      *agent.Agent
	server     *http.Server
	cancel     context.CancelFunc
	wg         sync.WaitGroup
	runErr     chan error
	ovn        *ovnNode
}

// Start brings the node up: containerd, the pod network, the endpoint's
// certificate (signed by the cluster CA through the API), the endpoint,
// and the agent, which registers the node and adopts the pods containerd
// already runs.
func Start(ctx context.Context, cfg Config) (_ *Node, err error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Name == "" {
		if cfg.Name, err = os.Hostname(); err != nil {
			return nil, fmt.Errorf("node name: %w", err)
		}
	}
	if cfg.Listen == "" {
		cfg.Listen = "127.0.0.1:0"
	}
	if cfg.PodSubnet == "" {
		cfg.PodSubnet = DefaultPodSubnet
	}
	subnet, err := netip.ParsePrefix(cfg.PodSubnet)
	if err != nil {
		return nil, fmt.Errorf("pod subnet %q: %w", cfg.PodSubnet, err)
	}
	log := cfg.Logger.With("node", cfg.Name)
	n := &Node{log: log, runErr: make(chan error, 1)}
	defer func() {
		if err != nil {
			n.Stop(context.Background(), false)
		}
	}()
	if err := os.MkdirAll(cfg.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("node directory: %w", err)
	}
	n.containerd, err = containerd.Start(ctx, containerd.Config{Dir: filepath.Join(cfg.Dir, "containerd"), Namespace: cfg.Namespace, Logger: log})
	if err != nil {
		return nil, err
	}
	var network runtime.PodNetwork
	if cfg.OVN != nil {
		lookup := func(uid string) (*api.Pod, bool) {
			if n.agent == nil {
				return nil, false
			}
			return n.agent.Pod(uid)
		}
		if n.ovn, err = startOVN(ctx, *cfg.OVN, cfg.Client, cfg.Name, ovnDir(cfg.Dir), lookup, log); err != nil {
			return nil, err
		}
		network = n.ovn.network
	} else {
		bridge, err := cninet.New(cninet.Config{Dir: filepath.Join(cfg.Dir, "cni"), Subnet: subnet, Bridge: cfg.Bridge, NetworkName: cfg.Bridge})
		if err != nil {
			return nil, fmt.Errorf("pod network: %w", err)
		}
		network = bridge
	}
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return nil, fmt.Errorf("node endpoint: %w", err)
	}
	advertise := cfg.Advertise
	if advertise == "" {
		advertise = ln.Addr().String()
	}
	tlsConfig, err := endpointTLS(ctx, cfg.Client, cfg.Name, advertise)
	if err != nil {
		ln.Close()
		return nil, err
	}
	versions := n.containerd.Versions()
	acfg := cfg.Agent
	acfg.NodeName, acfg.Client = cfg.Name, cfg.Client
	acfg.Runtime = runtime.Options{Client: n.containerd.Client(), Namespace: n.containerd.Namespace(),
		Dir: filepath.Join(cfg.Dir, "pods"), Network: network, LogBinary: cfg.LogBinary, Logger: cfg.Logger}
	acfg.ContainerdVersion, acfg.RuncVersion = versions.Containerd, versions.Runc
	acfg.PodNetwork = api.PodNetworkBridge
	if cfg.OVN != nil {
		acfg.PodNetwork = api.PodNetworkOVN
	}
	acfg.DaemonEndpoint = "https://" + advertise
	acfg.Registerer, acfg.Logger = cfg.Registerer, cfg.Logger
	if acfg.Images, err = puller(cfg, n.containerd, tlsConfig.ClientCAs); err != nil {
		ln.Close()
		return nil, err
	}
	if acfg.Builds, err = buildRunner(ctx, cfg, n.containerd, acfg.Runtime, tlsConfig.ClientCAs, log); err != nil {
		ln.Close()
		return nil, err
	}
	if n.agent, err = agent.New(acfg); err != nil {
		ln.Close()
		return nil, err
	}
	n.server = &http.Server{Handler: n.agent.Handler(), TLSConfig: tlsConfig, ReadHeaderTimeout: 10 * time.Second,
		ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelDebug)}
	runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	n.cancel = cancel
	n.wg.Add(2)
	go func() {
		defer n.wg.Done()
		if err := n.server.ServeTLS(ln, "", ""); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("node endpoint stopped", "error", err)
		}
	}()
	go func() {
		defer n.wg.Done()
		n.runErr <- n.agent.Run(runCtx)
	}()
	if n.ovn != nil {
		n.wg.Go(func() { n.ovn.runManagementPort(runCtx, cfg.Client, cfg.Name, log) })
		n.wg.Go(func() { n.ovn.superviseChassis(runCtx, log) })
	}
	log.Info("node up", "endpoint", acfg.DaemonEndpoint, "containerd", versions.Containerd, "runc", versions.Runc)
	return n, nil
}

// registryHost is cfg.RegistryHost or the API URL's host and port.
func registryHost(cfg Config) (string, error) {
	if cfg.RegistryHost != "" {
		return cfg.RegistryHost, nil
	}
	u, err := url.Parse(cfg.Client.Server())
	if err != nil {
		return "", fmt.Errorf("registry host from the API URL: %w", err)
	}
	return u.Host, nil
}

// buildRunner makes the executor of build pods, after importing the
// builder images.
func buildRunner(ctx context.Context, cfg Config, d *containerd.Daemon, rt runtime.Options, ca *x509.CertPool, log *slog.Logger) (agent.BuildRunner, error) {
	registry, err := registryHost(cfg)
	if err != nil {
		return nil, err
	}
	if cfg.BuilderImages != "" {
		ictx := namespaces.WithNamespace(ctx, d.Namespace())
		refs, err := images.Import(ictx, d.Client(), cfg.BuilderImages, registry, rt.Snapshotter)
		if err != nil {
			log.Warn("builder images not imported: builds need them in the registry", "err", err)
		} else {
			log.Info("builder images imported", "images", refs)
			if cfg.BuilderImagesToken != "" {
				if err := images.Push(ictx, d.Client(), refs, cfg.BuilderImagesToken, ca); err != nil {
					log.Warn("builder images not pushed to the registry", "err", err)
				} else {
					log.Info("builder images pushed to the registry", "registry", registry)
				}
			}
		}
	}
	ex, err := builder.New(builder.Options{Runtime: rt, WorkDir: filepath.Join(cfg.Dir, "builds"), RegistryCA: ca,
		Registerer: cfg.Registerer, Logger: log})
	if err != nil {
		return nil, err
	}
	return executorRunner{ex}, nil
}

// executorRunner adapts the builder's executor to the agent.
type executorRunner struct{ ex *builder.Executor }

func (r executorRunner) RunBuild(ctx context.Context, pod podspec.Pod, deadline time.Duration) agent.BuildResult {
	res := r.ex.Run(ctx, pod, deadline)
	return agent.BuildResult{ExitCode: res.ExitCode, Reason: res.Reason, Message: res.Message.JSON()}
}

// puller pulls pod images from Slipway's registry with the node's token,
// trusting the cluster CA.
func puller(cfg Config, d *containerd.Daemon, ca *x509.CertPool) (*imagepull.Puller, error) {
	registry, err := registryHost(cfg)
	if err != nil {
		return nil, err
	}
	return imagepull.New(imagepull.Config{Client: d.Client(), Namespace: d.Namespace(), Registry: registry,
		Token: cfg.Client.Token, RootCAs: ca, Registerer: cfg.Registerer, Logger: cfg.Logger})
}

// signedKey is a key with the certificate the cluster CA signed for it,
// and the CA's certificate, all PEM.
type signedKey struct{ key, cert, ca []byte }

// nodeCertificate makes a key and has the API server's CA sign a
// certificate for it: usage "serving" (the agent's endpoint) or "client"
// (the OVN chassis).
func nodeCertificate(ctx context.Context, c *client.Client, node, usage string, names, ips []string) (signedKey, error) {
	csr, key, err := pki.NewCertificateRequest(names, ips)
	if err != nil {
		return signedKey{}, err
	}
	body, _ := json.Marshal(map[string]string{"csr": string(csr), "usage": usage})
	var signed struct{ Certificate, CA string }
	if err := c.Do(ctx, http.MethodPost, "/api/v1/nodes/"+node+"/certificate", "application/json", body, &signed); err != nil {
		return signedKey{}, err
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return signedKey{}, err
	}
	return signedKey{key: pemBlock("EC PRIVATE KEY", keyDER), cert: []byte(signed.Certificate), ca: []byte(signed.CA)}, nil
}

// endpointTLS gets the endpoint a certificate from the cluster CA and
// accepts only the API server's client certificate.
func endpointTLS(ctx context.Context, c *client.Client, node, advertise string) (*tls.Config, error) {
	host, _, err := net.SplitHostPort(advertise)
	if err != nil {
		return nil, fmt.Errorf("advertise address %q: %w", advertise, err)
	}
	names, ips := []string{"localhost", node}, []string{"127.0.0.1"}
	if net.ParseIP(host) != nil {
		ips = append(ips, host)
	} else {
		names = append(names, host)
	}
	signed, err := nodeCertificate(ctx, c, node, "serving", names, ips)
	if err != nil {
		return nil, fmt.Errorf("get the node endpoint's certificate: %w", err)
	}
	cert, err := tls.X509KeyPair(signed.cert, signed.key)
	if err != nil {
		return nil, fmt.Errorf("node endpoint certificate: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(signed.ca) {
		return nil, errors.New("the API server sent no CA certificate")
	}
	return &tls.Config{
		Certificates: []tls.Certificate{cert},
		ClientAuth:   tls.RequireAndVerifyClientCert,
		ClientCAs:    pool,
		MinVersion:   tls.VersionTLS12,
		VerifyConnection: func(cs tls.ConnectionState) error {
			if len(cs.PeerCertificates) == 0 || cs.PeerCertificates[0].Subject.CommonName != pki.APIServerClientCN {
				return errors.New("only the API server may call the node endpoint")
			}
			return nil
		},
	}, nil
}

// Containerd returns the node's containerd.
func (n *Node) Containerd() *containerd.Daemon { return n.containerd }

// Agent returns the node's agent.
func (n *Node) Agent() *agent.Agent { return n.agent }

// Failed delivers the agent's error if it stops on its own.
func (n *Node) Failed() <-chan error { return n.runErr }

// Stop stops the agent and the endpoint. With stopPods it also stops every
// pod (a whole-machine shutdown); without, running containers keep running
// and a restarted node adopts them. containerd stops last; its shims keep
// any running containers alive.
func (n *Node) Stop(ctx context.Context, stopPods bool) error {
	var errs []error
	if n.cancel != nil {
		n.cancel()
	}
	if n.server != nil {
		errs = append(errs, n.server.Shutdown(ctx))
	}
	n.wg.Wait()
	if stopPods && n.agent != nil {
		errs = append(errs, n.stopAllPods(ctx))
	}
	if n.ovn != nil {
		// A clean stop leaves no chassis daemon running (running pods lose
		// the network until the node is back). Only a node killed outright
		// leaves them forwarding, for the next start to adopt.
		errs = append(errs, n.ovn.stop(ctx))
	}
	if n.containerd != nil {
		errs = append(errs, n.containerd.Stop(ctx))
	}
	return errors.Join(errs...)
}

// stopAllPods stops every pod of the node in parallel (SIGTERM, a short
// grace, SIGKILL) and removes what they leave.
func (n *Node) stopAllPods(ctx context.Context) error {
	rt := n.agent.Runtime()
	pods, err := rt.ListPods(ctx)
	if err != nil {
		return err
	}
	var wg sync.WaitGroup
	errs := make([]error, len(pods))
	for i, p := range pods {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := rt.StopPod(ctx, p.UID, stopGrace); err != nil {
				errs[i] = err
				return
			}
			errs[i] = rt.DeletePod(ctx, p.UID)
		}()
	}
	wg.Wait()
	n.log.Info("stopped every pod", "pods", len(pods))
	return errors.Join(errs...)
}

// stopGrace is the grace a whole-machine shutdown gives each pod.
const stopGrace = 10 * time.Second
