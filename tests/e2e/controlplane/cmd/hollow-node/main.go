// Command hollow-node runs upstream's hollow kubelet (k8s.io/kubernetes/pkg/kubemark: the
// real kubelet over the fake CRI runtime of k8s.io/cri-client) for Tidal's local control
// plane, with two additions kubemark lacks so that in-place resizes complete as on a real
// node:
//
//   - the fake runtime remembers the resources of UpdateContainerResources and reports them in
//     ContainerStatus (the kubelet reads the actual resources from there), and
//   - the stub pod container manager keeps each pod's cgroup config in memory instead of
//     failing with "not implemented" (kubemark runs without cgroups).
//
// Flags also set the node's CPU and memory capacity and extended resources (e.g. GPUs).
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"

	cadvisorapi "github.com/google/cadvisor/lib/model"
	"google.golang.org/grpc"
	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/types"
	clientset "k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
	remote "k8s.io/cri-client/pkg"
	fakeremote "k8s.io/cri-client/pkg/fake"
	"k8s.io/cri-client/pkg/util"
	"k8s.io/klog/v2"
	cadvisortest "k8s.io/kubernetes/pkg/kubelet/cadvisor/testing"
	"k8s.io/kubernetes/pkg/kubelet/cm"
	"k8s.io/kubernetes/pkg/kubemark"
)

// runtime is the fake CRI runtime, remembering resized resources.
type runtime struct {
	*fakeremote.RemoteRuntime
}

func (r *runtime) UpdateContainerResources(ctx context.Context, req *runtimeapi.UpdateContainerResourcesRequest) (*runtimeapi.UpdateContainerResourcesResponse, error) {
	resp, err := r.RemoteRuntime.UpdateContainerResources(ctx, req)
	if err != nil || req.GetLinux() == nil {
		return resp, err
	}
	fake := r.RuntimeService
	fake.Lock()
	if c, ok := fake.Containers[req.GetContainerId()]; ok {
		c.LinuxResources = req.GetLinux()
	}
	fake.Unlock()
	return resp, nil
}

func (r *runtime) ContainerStatus(ctx context.Context, req *runtimeapi.ContainerStatusRequest) (*runtimeapi.ContainerStatusResponse, error) {
	resp, err := r.RemoteRuntime.ContainerStatus(ctx, req)
	if err != nil || resp.GetStatus() == nil {
		return resp, err
	}
	fake := r.RuntimeService
	fake.Lock()
	if c, ok := fake.Containers[req.GetContainerId()]; ok && c.LinuxResources != nil {
		resp.Status.Resources = &runtimeapi.ContainerResources{Linux: c.LinuxResources}
	}
	fake.Unlock()
	return resp, nil
}

// podCgroups keeps each pod's cgroup config in memory, as a real node's cgroups would hold
// it: first derived from the pod, then changed by the kubelet's resizes.
type podCgroups struct {
	cm.PodContainerManager
	mu      sync.Mutex
	configs map[types.UID]*cm.ResourceConfig
}

func (p *podCgroups) config(pod *v1.Pod) *cm.ResourceConfig {
	if config, ok := p.configs[pod.UID]; ok {
		return config
	}
	config := cm.ResourceConfigForPod(pod, true, 100000, false, "")
	// A real cgroup always has a value; the kubelet dereferences these without checking.
	zero, unlimited, period := int64(0), int64(-1), uint64(100000)
	shares := uint64(cm.MinShares)
	if config.Memory == nil {
		config.Memory = &zero
	}
	if config.CPUShares == nil {
		config.CPUShares = &shares
	}
	if config.CPUQuota == nil {
		config.CPUQuota = &unlimited
	}
	if config.CPUPeriod == nil {
		config.CPUPeriod = &period
	}
	p.configs[pod.UID] = config
	return config
}

func (p *podCgroups) GetPodCgroupConfig(pod *v1.Pod, _ v1.ResourceName) (*cm.ResourceConfig, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	copied := *p.config(pod)
	return &copied, nil
}

func (p *podCgroups) SetPodCgroupConfig(_ klog.Logger, pod *v1.Pod, update *cm.ResourceConfig) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	config := p.config(pod)
	if update.Memory != nil {
		config.Memory = update.Memory
	}
	if update.CPUShares != nil {
		config.CPUShares = update.CPUShares
	}
	if update.CPUQuota != nil {
		config.CPUQuota = update.CPUQuota
	}
	if update.CPUPeriod != nil {
		config.CPUPeriod = update.CPUPeriod
	}
	return nil
}

type containerManager struct {
	cm.ContainerManager
	pods *podCgroups
}

func (c *containerManager) NewPodContainerManager() cm.PodContainerManager { return c.pods }

// machine is the fake cAdvisor with the capacity given on the command line.
type machine struct {
	*cadvisortest.Fake
	cores  int
	memory uint64
}

func (m *machine) MachineInfo(logger klog.Logger) (*cadvisorapi.MachineInfo, error) {
	info, err := m.Fake.MachineInfo(logger)
	if err != nil {
		return nil, err
	}
	info.NumCores, info.MemoryCapacity = m.cores, m.memory
	return info, nil
}

func main() {
	klog.InitFlags(nil)
	name := flag.String("name", "hollow-node", "node name")
	kubeconfig := flag.String("kubeconfig", "", "kubeconfig of the node's identity")
	port := flag.Int("kubelet-port", 10250, "kubelet server port")
	cores := flag.Int("cpu", 4, "CPU capacity (cores)")
	memory := flag.String("memory", "16Gi", "memory capacity")
	maxPods := flag.Int("max-pods", 110, "pods this node runs at most")
	extended := flag.String("extended-resources", "", "extended resources, e.g. nvidia.com/gpu=2")
	flag.Parse()
	if err := run(*name, *kubeconfig, *port, *cores, *memory, *maxPods, *extended); err != nil {
		fmt.Fprintln(os.Stderr, "hollow-node:", err)
		os.Exit(1)
	}
}

func run(name, kubeconfig string, port, cores int, memory string, maxPods int, extended string) error {
	ctx := context.Background()
	config, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		return err
	}
	config.UserAgent = "hollow-kubelet"
	client, err := clientset.NewForConfig(config)
	if err != nil {
		return err
	}
	flags, kubeletConfig := kubemark.GetHollowKubeletConfig(&kubemark.HollowKubeletOptions{
		NodeName: name, KubeletPort: port, MaxPods: maxPods, NodeLabels: map[string]string{},
	})
	heartbeat := *config
	heartbeat.Timeout = kubeletConfig.NodeStatusUpdateFrequency.Duration
	heartbeat.QPS = -1
	heartbeatClient, err := clientset.NewForConfig(&heartbeat)
	if err != nil {
		return err
	}
	capacity, err := resource.ParseQuantity(memory)
	if err != nil {
		return fmt.Errorf("--memory: %w", err)
	}
	resources := v1.ResourceList{}
	for _, item := range strings.Split(extended, ",") {
		if key, value, ok := strings.Cut(item, "="); ok {
			resources[v1.ResourceName(key)] = resource.MustParse(value)
		}
	}
	manager := &containerManager{
		ContainerManager: cm.NewStubContainerManagerWithDevicePluginResource(resources),
		pods:             &podCgroups{configs: map[types.UID]*cm.ResourceConfig{}},
	}
	manager.pods.PodContainerManager = cm.NewStubContainerManager().NewPodContainerManager()

	endpoint, err := fakeremote.GenerateEndpoint()
	if err != nil {
		return err
	}
	fake := &runtime{fakeremote.NewFakeRemoteRuntime()}
	server := grpc.NewServer()
	runtimeapi.RegisterRuntimeServiceServer(server, fake)
	runtimeapi.RegisterImageServiceServer(server, fake)
	listener, err := util.CreateListener(endpoint)
	if err != nil {
		return err
	}
	go func() { _ = server.Serve(listener) }()
	defer server.Stop()
	fake.RuntimeService.FakeStatus = &runtimeapi.RuntimeStatus{Conditions: []*runtimeapi.RuntimeCondition{
		{Type: runtimeapi.RuntimeReady, Status: true},
		{Type: runtimeapi.NetworkReady, Status: true},
	}}
	runtimeService, err := remote.NewRemoteRuntimeServiceBuilder().
		WithEndpoint(endpoint).WithConnectionTimeout(15 * time.Second).Build(ctx)
	if err != nil {
		return err
	}
	cadvisor := &machine{&cadvisortest.Fake{NodeName: name}, cores, uint64(capacity.Value())}
	kubemark.NewHollowKubelet(flags, kubeletConfig, client, heartbeatClient, cadvisor,
		fake.ImageService, runtimeService, manager).Run(ctx)
	return nil
}
