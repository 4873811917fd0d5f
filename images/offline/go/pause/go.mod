// The pod sandbox ("pause") container's program: registry.k8s.io/pause is a few lines of C that
// cannot be pulled here, so this is the same behaviour in Go, built by binaries.sh.
module datastack.local/offline/pause

go 1.24.0
