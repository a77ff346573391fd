// Command etcd is the etcd server from go.etcd.io/etcd/server/v3, the store
// behind Tidal's local kube-apiserver.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() {
	etcdmain.Main(os.Args)
}
