// Package rbac is Slipway's role-based access control evaluator. It decides,
// in memory and without I/O, whether a request's Attributes (who, which verb,
// which resource and subresource, in which project, on which object) are
// allowed by the built-in roles granted through ClusterRoleBindings and
// RoleBindings. The API server feeds it bindings from its watches and calls
// Authorizer.Authorize on every request.
//
// The model follows OpenShift and Kubernetes:
//
//   - Roles are fixed in code (roles.go) as data: lists of PolicyRules over
//     verbs and resource[/subresource] names. Cluster roles (cluster-admin,
//     cluster-reader, self-provisioner and the infrastructure system:* roles)
//     are bound only by ClusterRoleBindings; project roles (admin, edit,
//     view) are bound in one project by a RoleBinding, or in every project by
//     a ClusterRoleBinding.
//   - Every resource the API serves has an entry in the policy table
//     (resources.go, KnownResources). A request for a resource or
//     subresource missing from it is denied, so a new route without a policy
//     fails closed.
//   - A few self-service rules (selfservice.go) need no binding: a user may
//     get their own users object, list/get/delete their own tokens, and list
//     or watch the projects they can see. Rules that apply only to the
//     caller's own objects are expressed with Attributes.Owner and
//     Decision.OwnOnly; see those fields.
//
// Subjects match requests like this: a User subject matches the user of that
// name; a Group subject matches a user carrying that group, where every
// authenticated user implicitly carries system:authenticated and anonymous
// requests carry only system:unauthenticated; a ServiceAccount subject
// matches the service-account user system:serviceaccount:<project>:<name>,
// which also carries system:serviceaccounts and
// system:serviceaccounts:<project>.
package rbac
