// Command upstream-status asks upstream VPA's own status validator (pkg/utils/status) whether
// the admission-controller status Lease is fresh, as upstream's vpa-updater does before it
// evicts a pod. It prints "true" or "false"; exit status 2 on an API error.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"

	"k8s.io/autoscaler/vertical-pod-autoscaler/pkg/utils/status"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
)

func main() {
	kubeconfig := flag.String("kubeconfig", "", "kubeconfig of the cluster")
	namespace := flag.String("namespace", status.AdmissionControllerStatusNamespace, "the Lease's namespace")
	name := flag.String("name", status.AdmissionControllerStatusName, "the Lease's name")
	timeout := flag.Duration("timeout", status.AdmissionControllerStatusTimeout, "how fresh it must be")
	flag.Parse()
	config, err := clientcmd.BuildConfigFromFlags("", *kubeconfig)
	if err != nil {
		fmt.Fprintln(os.Stderr, "kubeconfig:", err)
		os.Exit(2)
	}
	client, err := kubernetes.NewForConfig(config)
	if err != nil {
		fmt.Fprintln(os.Stderr, "client:", err)
		os.Exit(2)
	}
	valid, err := status.NewValidator(client, *name, *namespace).IsStatusValid(context.Background(), *timeout)
	if err != nil {
		fmt.Fprintln(os.Stderr, "status:", err)
		os.Exit(2)
	}
	fmt.Println(valid)
}
