package api

import (
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/slipway/slipway/api/errdefs"
)

// BuildConfig describes how to build an image from source and when, in
// OpenShift's shape (build.openshift.io/v1 BuildConfig) trimmed to what
// Slipway supports: Git or binary source, the Source (S2I) strategy, an
// image stream tag as output, webhook and image-change triggers. Each
// build it starts is a Build named <config>-<N>, N = status.lastVersion.
type BuildConfig struct {
	Kind       string            `json:"kind"`
	APIVersion string            `json:"apiVersion"`
	Metadata   ObjectMeta        `json:"metadata"`
	Spec       BuildConfigSpec   `json:"spec"`
	Status     BuildConfigStatus `json:"status,omitempty"`
}

// BuildConfigSpec is what to build, how, and when.
type BuildConfigSpec struct {
	CommonSpec `json:",inline"`
	// Triggers start builds: webhooks (GitHub, GitLab, Generic) and
	// ImageChange (a new builder image).
	Triggers []BuildTriggerPolicy `json:"triggers,omitempty"`
	// RunPolicy is Serial (default: one build at a time, in order),
	// SerialLatestOnly (one at a time; a new build cancels the queued
	// ones) or Parallel.
	RunPolicy string `json:"runPolicy,omitempty"`
	// SuccessfulBuildsHistoryLimit and FailedBuildsHistoryLimit bound how
	// many finished builds are kept (defaults 5 and 5).
	SuccessfulBuildsHistoryLimit *int32 `json:"successfulBuildsHistoryLimit,omitempty"`
	FailedBuildsHistoryLimit     *int32 `json:"failedBuildsHistoryLimit,omitempty"`
}

// CommonSpec is shared by BuildConfig and Build specs.
type CommonSpec struct {
	Source   BuildSource   `json:"source"`
	Strategy BuildStrategy `json:"strategy"`
	Output   BuildOutput   `json:"output"`
	// Resources bound the build container (default limits: cpu 1,
	// memory 1Gi).
	Resources ResourceRequirements `json:"resources,omitempty"`
	// CompletionDeadlineSeconds bounds a build's run time once its pod
	// exists (default 1800).
	CompletionDeadlineSeconds *int64 `json:"completionDeadlineSeconds,omitempty"`
}

// Build source types.
const (
	BuildSourceGit    = "Git"
	BuildSourceBinary = "Binary"
)

// BuildSource is where the source comes from.
type BuildSource struct {
	// Type is Git (default when git is set) or Binary (uploaded with
	// instantiate: `slip start-build --from-dir`).
	Type   string             `json:"type,omitempty"`
	Git    *GitBuildSource    `json:"git,omitempty"`
	Binary *BinaryBuildSource `json:"binary,omitempty"`
	// ContextDir is the sub-directory of the source to build.
	ContextDir string `json:"contextDir,omitempty"`
	// SourceSecret holds the credentials of a private repository: a
	// Secret of type kubernetes.io/basic-auth (password is an HTTP token)
	// or kubernetes.io/ssh-auth (ssh-privatekey).
	SourceSecret *LocalObjectReference `json:"sourceSecret,omitempty"`
}

// GitBuildSource is a Git repository.
type GitBuildSource struct {
	URI string `json:"uri"`
	// Ref is a branch, tag or commit; empty is the default branch.
	Ref string `json:"ref,omitempty"`
}

// BinaryBuildSource marks source uploaded when the build was started;
// build pods fetch it from GET …/builds/{name}/source (a tar.gz).
type BinaryBuildSource struct {
	// URL is where the build pod fetches the archive (with its push
	// token): https://HOST/api/v1/projects/P/builds/NAME/source (set on
	// Builds).
	URL string `json:"url,omitempty"`
	// SHA256 is the digest of the uploaded archive (set on Builds).
	SHA256 string `json:"sha256,omitempty"`
	// Size is its length in bytes.
	Size int64 `json:"size,omitempty"`
}

// LocalObjectReference names an object in the same project.
type LocalObjectReference struct {
	Name string `json:"name"`
}

// ImageReference names an image: kind DockerImage (name is a full
// reference HOST/PATH:TAG or @sha256:…) or ImageStreamTag (name is
// "name:tag" in namespace, default the object's own project).
type ImageReference struct {
	Kind      string `json:"kind"`
	Name      string `json:"name"`
	Namespace string `json:"namespace,omitempty"`
}

// Object reference kinds.
const (
	DockerImageKind    = "DockerImage"
	ImageStreamTagKind = "ImageStreamTag"
)

// Build strategy types.
const BuildStrategySource = "Source"

// BuildStrategy says how the source becomes an image.
type BuildStrategy struct {
	// Type is Source (the only strategy; the default).
	Type           string               `json:"type,omitempty"`
	SourceStrategy *SourceBuildStrategy `json:"sourceStrategy,omitempty"`
}

// SourceBuildStrategy is a source-to-image build.
type SourceBuildStrategy struct {
	// From is the builder image.
	From ImageReference `json:"from"`
	// Env is given to assemble.
	Env []EnvVar `json:"env,omitempty"`
	// Incremental reuses the previous image's artifacts (save-artifacts).
	Incremental *bool `json:"incremental,omitempty"`
	// Scripts is a URL of the S2I scripts, overriding the image's.
	Scripts string `json:"scripts,omitempty"`
}

// BuildOutput is where the image goes.
type BuildOutput struct {
	// To is an ImageStreamTag "name:tag" of the project on BuildConfigs;
	// on Builds it is resolved to the DockerImage push reference
	// HOST/PROJECT/NAME:TAG.
	To *ImageReference `json:"to,omitempty"`
}

// Build trigger types.
const (
	GitHubWebHookBuildTrigger  = "GitHub"
	GitLabWebHookBuildTrigger  = "GitLab"
	GenericWebHookBuildTrigger = "Generic"
	ImageChangeBuildTrigger    = "ImageChange"
	ConfigChangeBuildTrigger   = "ConfigChange"
	// ManualBuildTrigger is the cause of builds started by instantiate.
	ManualBuildTrigger = "Manual"
)

// BuildTriggerPolicy is one way builds start.
type BuildTriggerPolicy struct {
	Type           string                   `json:"type"`
	GitHubWebHook  *WebHookTrigger          `json:"github,omitempty"`
	GitLabWebHook  *WebHookTrigger          `json:"gitlab,omitempty"`
	GenericWebHook *WebHookTrigger          `json:"generic,omitempty"`
	ImageChange    *BuildImageChangeTrigger `json:"imageChange,omitempty"`
}

// WebHookTrigger authenticates a webhook: the secret is the last but one
// segment of its URL.
type WebHookTrigger struct {
	// Secret is the URL secret; or SecretReference names a Secret whose
	// WebHookSecretKey holds it (so viewers of the BuildConfig do not see
	// it).
	Secret          string                `json:"secret,omitempty"`
	SecretReference *LocalObjectReference `json:"secretReference,omitempty"`
	// SigningSecret (GitHub: the HMAC key behind X-Hub-Signature-256;
	// GitLab: the X-Gitlab-Token value) is checked too when set (Slipway's
	// addition).
	SigningSecret string `json:"signingSecret,omitempty"`
	// AllowEnv lets a Generic payload add build env (OpenShift's allowEnv).
	AllowEnv bool `json:"allowEnv,omitempty"`
}

// WebHookSecretKey is the Secret key a WebHookTrigger.SecretReference reads.
const WebHookSecretKey = "WebHookSecretKey"

// BuildImageChangeTrigger rebuilds when an image stream tag moves; From nil
// means the Source strategy's builder image.
type BuildImageChangeTrigger struct {
	From *ImageReference `json:"from,omitempty"`
}

// Build run policies.
const (
	RunPolicySerial           = "Serial"
	RunPolicySerialLatestOnly = "SerialLatestOnly"
	RunPolicyParallel         = "Parallel"
)

// Build defaults.
const (
	DefaultBuildsHistoryLimit        = 5
	DefaultCompletionDeadlineSeconds = 1800
	DefaultBuildCPULimit             = "1"
	DefaultBuildMemoryLimit          = "1Gi"
	// MaxWebhookDeliveries is how many deliveries status keeps.
	MaxWebhookDeliveries = 50
)

// BuildConfigStatus is written by the API (instantiate, webhooks) and the
// build controller.
type BuildConfigStatus struct {
	// LastVersion is the number of the last build started; the next build
	// is <name>-<lastVersion+1>.
	LastVersion int64 `json:"lastVersion"`
	// WebhookDeliveries are the last MaxWebhookDeliveries webhook calls,
	// newest last.
	WebhookDeliveries []WebhookDelivery `json:"webhookDeliveries,omitempty"`
	// ImageChangeTriggers record the image each ImageChange trigger last
	// built from.
	ImageChangeTriggers []ImageChangeTriggerStatus `json:"imageChangeTriggers,omitempty"`
}

// Webhook delivery results.
const (
	DeliveryTriggered = "Triggered"
	DeliveryIgnored   = "Ignored"
	DeliveryRejected  = "Rejected"
	DeliveryDuplicate = "Duplicate"
)

// WebhookDelivery records one webhook call.
type WebhookDelivery struct {
	Time *time.Time `json:"time,omitempty"`
	// Type is GitHub, GitLab or Generic.
	Type string `json:"type"`
	// Event is the provider's event (push, ping…).
	Event      string `json:"event,omitempty"`
	Ref        string `json:"ref,omitempty"`
	Commit     string `json:"commit,omitempty"`
	DeliveryID string `json:"deliveryId,omitempty"`
	// Result is Triggered, Ignored, Rejected or Duplicate.
	Result string `json:"result"`
	Reason string `json:"reason,omitempty"`
	// Build is the build the delivery started.
	Build string `json:"build,omitempty"`
}

// ImageChangeTriggerStatus is the image an ImageChange trigger last saw.
type ImageChangeTriggerStatus struct {
	// From is "project/name:tag".
	From                 string `json:"from"`
	LastTriggeredImageID string `json:"lastTriggeredImageID,omitempty"`
}

// Build is one run of a BuildConfig (or a standalone build), in
// OpenShift's shape.
type Build struct {
	Kind       string      `json:"kind"`
	APIVersion string      `json:"apiVersion"`
	Metadata   ObjectMeta  `json:"metadata"`
	Spec       BuildSpec   `json:"spec"`
	Status     BuildStatus `json:"status,omitempty"`
}

// BuildSpec is a BuildConfig's CommonSpec with references resolved (the
// builder image and output are full DockerImage references), plus why and
// what revision to build.
type BuildSpec struct {
	CommonSpec `json:",inline"`
	// Revision, when set, builds this commit instead of source.git.ref's
	// head.
	Revision *BuildRevision `json:"revision,omitempty"`
	// TriggeredBy says why the build started.
	TriggeredBy []BuildCause `json:"triggeredBy,omitempty"`
	// Cancelled asks the controller to stop the build.
	Cancelled bool `json:"cancelled,omitempty"`
}

// BuildRevision is the commit a build built.
type BuildRevision struct {
	Commit  string `json:"commit,omitempty"`
	Author  string `json:"author,omitempty"`
	Message string `json:"message,omitempty"`
}

// BuildCause is why a build started.
type BuildCause struct {
	// Type is Manual, GitHub, GitLab, Generic, ImageChange or ConfigChange.
	Type    string `json:"type"`
	Message string `json:"message,omitempty"`
	// User started a manual build.
	User string `json:"user,omitempty"`
	// Ref, Commit and DeliveryID come from a webhook.
	Ref        string `json:"ref,omitempty"`
	Commit     string `json:"commit,omitempty"`
	DeliveryID string `json:"deliveryId,omitempty"`
	// ImageID is the new image of an ImageChange cause.
	ImageID string `json:"imageID,omitempty"`
}

// Build phases (OpenShift's).
const (
	BuildPhaseNew       = "New"
	BuildPhasePending   = "Pending"
	BuildPhaseRunning   = "Running"
	BuildPhaseComplete  = "Complete"
	BuildPhaseFailed    = "Failed"
	BuildPhaseCancelled = "Cancelled"
	BuildPhaseError     = "Error"
)

// BuildPhaseFinished reports whether phase is terminal.
func BuildPhaseFinished(phase string) bool {
	switch phase {
	case BuildPhaseComplete, BuildPhaseFailed, BuildPhaseCancelled, BuildPhaseError:
		return true
	}
	return false
}

// Build status reasons.
const (
	BuildReasonCancelled        = "CancelledBuild"
	BuildReasonDeadlineExceeded = "BuildDeadlineExceeded"
	BuildReasonPodDeleted       = "BuildPodDeleted"
	BuildReasonAssembleFailed   = "GenericBuildFailed"
	BuildReasonCannotCreatePod  = "CannotCreateBuildPod"
	BuildReasonInvalidOutput    = "InvalidOutputReference"
)

// BuildStatus is written by the build controller.
type BuildStatus struct {
	Phase   string `json:"phase,omitempty"`
	Reason  string `json:"reason,omitempty"`
	Message string `json:"message,omitempty"`
	// Cause is the first of spec.triggeredBy, for display.
	Cause    *BuildCause    `json:"cause,omitempty"`
	Revision *BuildRevision `json:"revision,omitempty"`
	// OutputDigest is the pushed image's manifest digest.
	OutputDigest string `json:"outputDigest,omitempty"`
	// OutputDockerImageReference is where the image was pushed.
	OutputDockerImageReference string `json:"outputDockerImageReference,omitempty"`
	// Config is the BuildConfig the build came from.
	Config              *LocalObjectReference `json:"config,omitempty"`
	PodName             string                `json:"podName,omitempty"`
	StartTimestamp      *time.Time            `json:"startTimestamp,omitempty"`
	CompletionTimestamp *time.Time            `json:"completionTimestamp,omitempty"`
	// Duration is in nanoseconds, as OpenShift's.
	Duration time.Duration `json:"duration,omitempty"`
}

// BuildResult is the JSON a build container writes as its terminated
// state's message (the build pod contract).
type BuildResult struct {
	Commit       string `json:"commit,omitempty"`
	Author       string `json:"author,omitempty"`
	Message      string `json:"message,omitempty"`
	OutputDigest string `json:"outputDigest,omitempty"`
	Image        string `json:"image,omitempty"`
	// Error explains a failure (optional).
	Error string `json:"error,omitempty"`
}

// Names of the build resources, labels and annotations.
const (
	BuildConfigsResource = "buildconfigs"
	BuildsResource       = "builds"
	// BuildConfigLabel on a Build and its pod names its BuildConfig.
	BuildConfigLabel = "slipway.io/buildconfig"
	// BuildLabel on a build pod names its Build.
	BuildLabel = "slipway.io/build"
	// BuildPodAnnotation marks build pods ("true").
	BuildPodAnnotation = "slipway.io/build-pod"
	// BuildNumberAnnotation on a Build is its N.
	BuildNumberAnnotation = "slipway.io/build-number"
	// BuildContainerName is the build pod's only container.
	BuildContainerName = "build"
)

// WebhookPath is the path of a BuildConfig's webhook of a trigger type
// (GitHub, GitLab, Generic).
func WebhookPath(project, name, secret, triggerType string) string {
	return "/api/v1/projects/" + project + "/buildconfigs/" + name + "/webhooks/" + url.PathEscape(secret) + "/" + strings.ToLower(triggerType)
}

// BuildPodName is the name of a build's pod.
func BuildPodName(build string) string { return build + "-build" }

// EffectiveRunPolicy is spec.runPolicy with its default.
func (s *BuildConfigSpec) EffectiveRunPolicy() string {
	if s.RunPolicy == "" {
		return RunPolicySerial
	}
	return s.RunPolicy
}

// HistoryLimits are the history limits with their defaults.
func (s *BuildConfigSpec) HistoryLimits() (successful, failed int) {
	successful, failed = DefaultBuildsHistoryLimit, DefaultBuildsHistoryLimit
	if s.SuccessfulBuildsHistoryLimit != nil {
		successful = int(*s.SuccessfulBuildsHistoryLimit)
	}
	if s.FailedBuildsHistoryLimit != nil {
		failed = int(*s.FailedBuildsHistoryLimit)
	}
	return successful, failed
}

// CompletionDeadline is spec.completionDeadlineSeconds with its default.
func (s *CommonSpec) CompletionDeadline() int64 {
	if s.CompletionDeadlineSeconds == nil {
		return DefaultCompletionDeadlineSeconds
	}
	return *s.CompletionDeadlineSeconds
}

// Webhook returns the webhook of the given trigger type (GitHub, GitLab,
// Generic), or nil.
func (t *BuildTriggerPolicy) Webhook() *WebHookTrigger {
	switch t.Type {
	case GitHubWebHookBuildTrigger:
		return t.GitHubWebHook
	case GitLabWebHookBuildTrigger:
		return t.GitLabWebHook
	case GenericWebHookBuildTrigger:
		return t.GenericWebHook
	}
	return nil
}

// Validate checks a BuildConfig's spec; errors name the field.
func (s *BuildConfigSpec) Validate() error {
	if err := s.CommonSpec.validate(false); err != nil {
		return err
	}
	switch s.RunPolicy {
	case "", RunPolicySerial, RunPolicySerialLatestOnly, RunPolicyParallel:
	default:
		return errdefs.Invalidf("spec.runPolicy", "must be Serial, SerialLatestOnly or Parallel, got %q", s.RunPolicy)
	}
	if l := s.SuccessfulBuildsHistoryLimit; l != nil && *l < 0 {
		return errdefs.Invalidf("spec.successfulBuildsHistoryLimit", "must not be negative")
	}
	if l := s.FailedBuildsHistoryLimit; l != nil && *l < 0 {
		return errdefs.Invalidf("spec.failedBuildsHistoryLimit", "must not be negative")
	}
	for i := range s.Triggers {
		if err := s.Triggers[i].validate(fmt.Sprintf("spec.triggers[%d]", i)); err != nil {
			return err
		}
	}
	return nil
}

func (t *BuildTriggerPolicy) validate(field string) error {
	set := 0
	for _, p := range []bool{t.GitHubWebHook != nil, t.GitLabWebHook != nil, t.GenericWebHook != nil, t.ImageChange != nil} {
		if p {
			set++
		}
	}
	want := map[string]string{GitHubWebHookBuildTrigger: "github", GitLabWebHookBuildTrigger: "gitlab",
		GenericWebHookBuildTrigger: "generic", ImageChangeBuildTrigger: "imageChange"}
	switch t.Type {
	case GitHubWebHookBuildTrigger, GitLabWebHookBuildTrigger, GenericWebHookBuildTrigger:
		wh := t.Webhook()
		if wh == nil || set != 1 {
			return errdefs.Invalidf(field+"."+want[t.Type], "is required (and only it) for a %s trigger", t.Type)
		}
		f := field + "." + want[t.Type]
		if (wh.Secret == "") == (wh.SecretReference == nil) {
			return errdefs.Invalidf(f+".secret", "exactly one of secret or secretReference is required")
		}
		if wh.Secret != "" && (len(wh.Secret) < 8 || strings.ContainsAny(wh.Secret, "/?#% ")) {
			return errdefs.Invalidf(f+".secret", "must be at least 8 characters without '/', '?', '#', '%%' or spaces")
		}
		if wh.SecretReference != nil {
			if err := ValidateName(f+".secretReference.name", wh.SecretReference.Name); err != nil {
				return err
			}
		}
		if wh.SigningSecret != "" && t.Type == GenericWebHookBuildTrigger {
			return errdefs.Invalidf(f+".signingSecret", "only GitHub and GitLab webhooks are signed")
		}
	case ImageChangeBuildTrigger:
		if set > 1 || (set == 1 && t.ImageChange == nil) {
			return errdefs.Invalidf(field+".imageChange", "is the only field of an ImageChange trigger")
		}
		if t.ImageChange != nil && t.ImageChange.From != nil {
			if err := validateImageStreamTagRef(field+".imageChange.from", t.ImageChange.From); err != nil {
				return err
			}
		}
	case ConfigChangeBuildTrigger:
		if set != 0 {
			return errdefs.Invalidf(field, "a ConfigChange trigger has no parameters")
		}
	case "":
		return errdefs.Invalidf(field+".type", "is required (GitHub, GitLab, Generic, ImageChange or ConfigChange)")
	default:
		return errdefs.Invalidf(field+".type", "must be GitHub, GitLab, Generic, ImageChange or ConfigChange, got %q", t.Type)
	}
	return nil
}

func validateImageStreamTagRef(field string, r *ImageReference) error {
	if r.Kind != ImageStreamTagKind {
		return errdefs.Invalidf(field+".kind", "must be ImageStreamTag, got %q", r.Kind)
	}
	if r.Namespace != "" {
		if err := ValidateName(field+".namespace", r.Namespace); err != nil {
			return err
		}
	}
	if _, _, _, err := ParseImageStreamTag(r.Name); err != nil || strings.Contains(r.Name, "/") {
		return errdefs.Invalidf(field+".name", "%q is not an image stream tag name:tag", r.Name)
	}
	return nil
}

// validate checks the shared spec; resolved (on Builds) requires the
// builder and output as DockerImage references.
func (s *CommonSpec) validate(resolved bool) error {
	src := &s.Source
	switch src.Type {
	case "", BuildSourceGit:
		if src.Git == nil && !(src.Type == "" && src.Binary != nil) {
			return errdefs.Invalidf("spec.source.git", "is required for a Git source")
		}
	case BuildSourceBinary:
		if src.Git != nil && !resolved {
			return errdefs.Invalidf("spec.source.git", "a Binary source has no git")
		}
	default:
		return errdefs.Invalidf("spec.source.type", "must be Git or Binary, got %q", src.Type)
	}
	if g := src.Git; g != nil {
		if err := ValidateGitURI("spec.source.git.uri", g.URI); err != nil {
			return err
		}
		if len(g.Ref) > 255 || strings.ContainsAny(g.Ref, " \t\n~^:?*[\\") || strings.HasPrefix(g.Ref, "-") {
			return errdefs.Invalidf("spec.source.git.ref", "%q is not a branch, tag or commit", g.Ref)
		}
	}
	if b := src.Binary; b != nil && b.SHA256 != "" && (len(b.SHA256) != 64 || strings.Trim(b.SHA256, "0123456789abcdef") != "") {
		return errdefs.Invalidf("spec.source.binary.sha256", "must be 64 lower-case hex digits")
	}
	if d := src.ContextDir; d != "" {
		clean := strings.Trim(d, "/")
		if strings.HasPrefix(d, "/") || clean == "" || strings.Contains(d, "\x00") {
			return errdefs.Invalidf("spec.source.contextDir", "%q must be a relative directory", d)
		}
		for _, part := range strings.Split(clean, "/") {
			if part == ".." {
				return errdefs.Invalidf("spec.source.contextDir", "%q must stay inside the source", d)
			}
		}
	}
	if ss := src.SourceSecret; ss != nil {
		if err := ValidateName("spec.source.sourceSecret.name", ss.Name); err != nil {
			return err
		}
	}
	switch s.Strategy.Type {
	case "", BuildStrategySource:
	default:
		return errdefs.Invalidf("spec.strategy.type", "must be Source (the only strategy Slipway runs), got %q", s.Strategy.Type)
	}
	ss := s.Strategy.SourceStrategy
	if ss == nil {
		return errdefs.Invalidf("spec.strategy.sourceStrategy", "is required")
	}
	if err := validateImageRef("spec.strategy.sourceStrategy.from", &ss.From, resolved); err != nil {
		return err
	}
	for i, e := range ss.Env {
		if e.Name == "" || strings.ContainsAny(e.Name, "=\x00") {
			return errdefs.Invalidf(fmt.Sprintf("spec.strategy.sourceStrategy.env[%d].name", i), "must be a non-empty name without '='")
		}
		if e.ValueFrom != nil {
			return errdefs.Invalidf(fmt.Sprintf("spec.strategy.sourceStrategy.env[%d].valueFrom", i), "build env takes literal values only")
		}
	}
	if sc := ss.Scripts; sc != "" {
		u, err := url.Parse(sc)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https" && u.Scheme != "image") {
			return errdefs.Invalidf("spec.strategy.sourceStrategy.scripts", "%q must be an http(s):// or image:// URL", sc)
		}
	}
	if s.Output.To == nil {
		return errdefs.Invalidf("spec.output.to", "is required")
	}
	if resolved {
		if s.Output.To.Kind != DockerImageKind {
			return errdefs.Invalidf("spec.output.to.kind", "must be DockerImage on a Build, got %q", s.Output.To.Kind)
		}
		if err := ValidateImage("spec.output.to.name", s.Output.To.Name); err != nil {
			return err
		}
	} else {
		to := *s.Output.To
		if to.Kind == "" {
			to.Kind = ImageStreamTagKind
		}
		if err := validateImageStreamTagRef("spec.output.to", &to); err != nil {
			return err
		}
	}
	if err := s.Resources.validate("spec.resources"); err != nil {
		return err
	}
	if d := s.CompletionDeadlineSeconds; d != nil && (*d < 1 || *d > 24*3600) {
		return errdefs.Invalidf("spec.completionDeadlineSeconds", "must be between 1 and 86400")
	}
	return nil
}

func validateImageRef(field string, r *ImageReference, resolved bool) error {
	switch r.Kind {
	case DockerImageKind:
		return ValidateImage(field+".name", r.Name)
	case ImageStreamTagKind:
		if resolved {
			return errdefs.Invalidf(field+".kind", "must be DockerImage on a Build")
		}
		return validateImageStreamTagRef(field, r)
	case "":
		return errdefs.Invalidf(field+".kind", "is required (DockerImage or ImageStreamTag)")
	}
	return errdefs.Invalidf(field+".kind", "must be DockerImage or ImageStreamTag, got %q", r.Kind)
}

// ValidateGitURI accepts http(s)://, ssh://, git:// and file:// URLs and
// scp-like user@host:path.
func ValidateGitURI(field, uri string) error {
	if uri == "" {
		return errdefs.Invalidf(field, "is required")
	}
	if len(uri) > 2048 || strings.ContainsAny(uri, " \t\n") {
		return errdefs.Invalidf(field, "%q is not a Git URL", uri)
	}
	if u, err := url.Parse(uri); err == nil && u.Scheme != "" {
		switch u.Scheme {
		case "http", "https", "ssh", "git":
			if u.Host == "" {
				return errdefs.Invalidf(field, "%q has no host", uri)
			}
			return nil
		case "file":
			return nil
		}
		return errdefs.Invalidf(field, "%q: scheme %q is not http, https, ssh, git or file", uri, u.Scheme)
	}
	if at, path, ok := strings.Cut(uri, ":"); ok && strings.Contains(at, "@") && path != "" {
		return nil
	}
	return errdefs.Invalidf(field, "%q is not a Git URL", uri)
}

// Validate checks a Build's spec.
func (s *BuildSpec) Validate() error {
	if err := s.CommonSpec.validate(true); err != nil {
		return err
	}
	if r := s.Revision; r != nil && r.Commit != "" && (len(r.Commit) < 4 || len(r.Commit) > 64 || strings.Trim(r.Commit, "0123456789abcdef") != "") {
		return errdefs.Invalidf("spec.revision.commit", "%q is not a commit id (hex)", r.Commit)
	}
	for i, c := range s.TriggeredBy {
		if c.Type == "" {
			return errdefs.Invalidf(fmt.Sprintf("spec.triggeredBy[%d].type", i), "is required")
		}
	}
	return nil
}

// Validate checks a build's status.
func (s *BuildStatus) Validate() error {
	switch s.Phase {
	case "", BuildPhaseNew, BuildPhasePending, BuildPhaseRunning, BuildPhaseComplete, BuildPhaseFailed, BuildPhaseCancelled, BuildPhaseError:
	default:
		return errdefs.Invalidf("status.phase", "must be New, Pending, Running, Complete, Failed, Cancelled or Error, got %q", s.Phase)
	}
	if d := s.OutputDigest; d != "" && (!strings.HasPrefix(d, "sha256:") || len(d) != len("sha256:")+64) {
		return errdefs.Invalidf("status.outputDigest", "must be sha256:<64 hex digits>")
	}
	return nil
}

// Validate checks a BuildConfig's status.
func (s *BuildConfigStatus) Validate() error {
	if s.LastVersion < 0 {
		return errdefs.Invalidf("status.lastVersion", "must not be negative")
	}
	if len(s.WebhookDeliveries) > MaxWebhookDeliveries {
		return errdefs.Invalidf("status.webhookDeliveries", "holds at most %d deliveries", MaxWebhookDeliveries)
	}
	return nil
}

// ValidateBuildName checks that a BuildConfig name leaves room for
// "-<N>-build" within a DNS label.
func validateBuildConfigName(name string) error {
	if len(name) > 63-len("-99999-build") {
		return errdefs.Invalidf("metadata.name", "must be at most %d characters, so its builds' pods have valid names", 63-len("-99999-build"))
	}
	return nil
}

// BuildRequest asks instantiate for a new build (OpenShift's
// BuildRequest, trimmed): POST …/buildconfigs/{name}/instantiate with
// Content-Type application/json, or with application/gzip (or
// application/x-tar+gzip) and a tar.gz body for binary source, the other
// fields then coming from query parameters (commit, message).
type BuildRequest struct {
	Kind       string `json:"kind,omitempty"`
	APIVersion string `json:"apiVersion,omitempty"`
	// Revision overrides the commit to build.
	Revision *BuildRevision `json:"revision,omitempty"`
	// Env adds build env for this build.
	Env []EnvVar `json:"env,omitempty"`
	// Message is recorded in the build's cause.
	Message string `json:"message,omitempty"`
}

// Validate checks the request.
func (r *BuildRequest) Validate() error {
	if r.Kind != "" && r.Kind != "BuildRequest" {
		return errdefs.BadRequestf("kind", "must be BuildRequest, got %q", r.Kind)
	}
	if r.APIVersion != "" && r.APIVersion != Version {
		return errdefs.BadRequestf("apiVersion", "unsupported version %q", r.APIVersion)
	}
	if rv := r.Revision; rv != nil && rv.Commit != "" && (len(rv.Commit) < 4 || len(rv.Commit) > 64 || strings.Trim(rv.Commit, "0123456789abcdef") != "") {
		return errdefs.Invalidf("revision.commit", "%q is not a commit id (hex)", rv.Commit)
	}
	for i, e := range r.Env {
		if e.Name == "" || strings.ContainsAny(e.Name, "=\x00") || e.ValueFrom != nil {
			return errdefs.Invalidf(fmt.Sprintf("env[%d]", i), "must have a non-empty name without '=' and a literal value")
		}
	}
	return nil
}

// ParseBuildName splits "<config>-<N>".
func ParseBuildName(name string) (config string, n int64, ok bool) {
	i := strings.LastIndexByte(name, '-')
	if i <= 0 {
		return "", 0, false
	}
	if _, err := fmt.Sscanf(name[i+1:], "%d", &n); err != nil || fmt.Sprint(n) != name[i+1:] {
		return "", 0, false
	}
	return name[:i], n, true
}

func buildResources() []*Resource {
	spec := func(kind string, validate func(*Object) error) func(*Object) error {
		return func(o *Object) error {
			if err := forbid(o.Data, "data", kind); err != nil {
				return err
			}
			if len(o.Spec) == 0 || string(o.Spec) == "null" {
				return errdefs.Invalidf("spec", "is required")
			}
			return validate(o)
		}
	}
	return []*Resource{
		{Plural: BuildConfigsResource, Kind: "BuildConfig", Scope: ProjectScoped, HasStatus: true,
			Finalizers: []string{DependentsFinalizer},
			validateSpec: spec("BuildConfig", func(o *Object) error {
				if err := validateBuildConfigName(o.Metadata.Name); err != nil {
					return err
				}
				return strictField[BuildConfigSpec](o.Spec, "spec")
			}),
			validateStatus: func(o *Object) error { return strictField[BuildConfigStatus](o.Status, "status") }},
		{Plural: BuildsResource, Kind: "Build", Scope: ProjectScoped, HasStatus: true,
			Finalizers:     []string{DependentsFinalizer},
			validateSpec:   spec("Build", func(o *Object) error { return strictField[BuildSpec](o.Spec, "spec") }),
			validateStatus: func(o *Object) error { return strictField[BuildStatus](o.Status, "status") }},
	}
}
