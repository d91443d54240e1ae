// Package builds holds the build machinery of the API server: starting
// numbered builds from BuildConfigs (instantiate, webhooks, image changes),
// the uploaded sources of binary builds, the build controller that runs
// each Build as a pod on a node, and the image-change triggers that roll
// deployments out and rebuild on new builder images.
//
// # Numbering
//
// Build N of BuildConfig C is named C-N, N = C's status.lastVersion after
// the start advanced it with a compare-and-swap on C's resourceVersion;
// concurrent starts (API, webhooks, triggers) retry on conflict, so numbers
// are distinct and consecutive. A webhook delivery is recorded in the same
// write, which makes a replayed delivery id start at most one build (among
// the last api.MaxWebhookDeliveries deliveries).
//
// # The build pod contract
//
// The node side (builder/) relies on exactly this:
//
//   - Pod <build>-build in the build's project, restartPolicy Never, labels
//     slipway.io/build=<build> and slipway.io/buildconfig=<config>,
//     annotation slipway.io/build-pod: "true", serviceAccountName builder,
//     activeDeadlineSeconds = the build's completionDeadlineSeconds
//     (default 1800; the controller enforces it by deleting the pod).
//   - One container "build" whose image is the builder image (a full
//     reference), with the BuildConfig's resources (default limits cpu 1,
//     memory 1Gi).
//   - Env BUILD: the Build object as JSON (metadata and spec; spec carries
//     source, revision, strategy and output.to.name, the full push
//     reference HOST/PROJECT/NAME:TAG). SLIPWAY_PUSH_TOKEN: from
//     valueFrom.secretKeyRef <build>-push/token, a token of the project's
//     "builder" service account (role system:builder in the project: read
//     builds and their source, push images), expiring 15 minutes after the
//     deadline and revoked when the build ends. For a private repository,
//     SOURCE_TOKEN (the source secret's password or token key) or
//     SOURCE_SSH_KEY (its ssh-privatekey key), also by secretKeyRef. A
//     binary build has spec.source.type Binary and spec.source.binary.url
//     https://HOST/api/v1/projects/P/builds/NAME/source, the uploaded
//     tar.gz (readable with the push token or the node's token).
//   - A commit override is spec.revision.commit.
//   - The result: the build container's exit code (0 = Complete, anything
//     else = Failed) and its terminated state's message, JSON
//     api.BuildResult {"commit","author","message","outputDigest","image"}
//     (plus "error" to explain a failure), copied into the Build's status.
package builds
