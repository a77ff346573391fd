//go:build tools

// Package tool pins helm's command for `go build helm.sh/helm/v4/cmd/helm`.
package tool

import _ "helm.sh/helm/v4/cmd/helm"
