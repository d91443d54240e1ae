// Package api holds Slipway's wire types: the generic object envelope every
// resource shares, the typed resources, the catalogue of resource types with
// their validation, and the Status error shape. The API server, the typed
// client (api/client), the CLI and every agent speak these types.
package api
