// Command etcd is etcd's own server entrypoint (go.etcd.io/etcd/server/v3/etcdmain), built from
// the Go module proxy at the version pinned in go.mod: the root etcd module carries replace
// directives and so cannot be `go install`ed.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() {
	etcdmain.Main(os.Args)
}
