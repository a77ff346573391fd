// Command upstream-recommender runs upstream VPA's own recommender model and estimators
// (k8s.io/autoscaler/vertical-pod-autoscaler pkg/recommender/model and logic, the version in
// go.mod) over usage histories, for tests/recommender/test_upstream_vpa.py.
//
// stdin: a JSON list of pod containers:
//
//	[{"namespace": "ns", "workload": "Deployment/web", "pod": "web-1", "container": "app",
//	  "cpu": [[unixSeconds, cores], ...], "memory": [[unixSeconds, bytes], ...],
//	  "ooms": [[unixSeconds, bytes], ...], "policy": {...}}, ...]
//
// "policy" (optional) is a container policy of the workload's VPA (upstream's
// ContainerResourcePolicy, containerName defaulting to the container's), for AEP-8026's per-VPA
// fields (oomBumpUpRatio, oomMinBumpUp, memoryAggregationIntervalSeconds/Count); the
// PerVPAConfig feature gate is on.
//
// Every sample and OOM is fed to one ClusterState in time order (at equal times: CPU, then
// memory, then OOMs), the way the recommender's loop sees them: CPU and memory through
// ClusterState.AddSample (values truncated to millicores and bytes, as the history provider
// converts them), OOMs through ClusterState.RecordOOM. Pods of a workload share a label, and
// one VPA per workload selects it. Each VPA's recommendation then comes from the default
// PodResourceRecommender (the recommender's default flags).
//
// stdout: a JSON list, sorted by namespace, workload and container:
//
//	[{"namespace", "workload", "container", "target": {"cpu": millicores, "memory": bytes},
//	  "lowerBound": {...}, "upperBound": {...}, "uncappedTarget": {...}}, ...]
package main

import (
	"encoding/json"
	"fmt"
	"os"
	"sort"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	vpa_types "k8s.io/autoscaler/vertical-pod-autoscaler/pkg/apis/autoscaling.k8s.io/v1"
	"k8s.io/autoscaler/vertical-pod-autoscaler/pkg/features"
	"k8s.io/autoscaler/vertical-pod-autoscaler/pkg/recommender/logic"
	"k8s.io/autoscaler/vertical-pod-autoscaler/pkg/recommender/model"
)

const workloadLabel = "tidal.dev/workload"

// The recommender's default flags (pkg/recommender/main.go).
var defaultConfig = logic.RecommendationConfig{
	SafetyMarginFraction:       0.15,
	PodMinCPUMillicores:        25,
	PodMinMemoryMb:             250,
	TargetCPUPercentile:        0.9,
	LowerBoundCPUPercentile:    0.5,
	UpperBoundCPUPercentile:    0.95,
	ConfidenceIntervalCPU:      24 * time.Hour,
	TargetMemoryPercentile:     0.9,
	LowerBoundMemoryPercentile: 0.5,
	UpperBoundMemoryPercentile: 0.95,
	ConfidenceIntervalMemory:   24 * time.Hour,
}

type container struct {
	Namespace string                             `json:"namespace"`
	Workload  string                             `json:"workload"`
	Pod       string                             `json:"pod"`
	Container string                             `json:"container"`
	CPU       [][2]float64                       `json:"cpu"`
	Memory    [][2]float64                       `json:"memory"`
	OOMs      [][2]float64                       `json:"ooms"`
	Policy    *vpa_types.ContainerResourcePolicy `json:"policy,omitempty"`
}

type event struct {
	at    time.Time
	kind  int // 0 cpu, 1 memory, 2 oom: the order at equal times
	id    model.ContainerID
	value float64
}

type output struct {
	Namespace      string           `json:"namespace"`
	Workload       string           `json:"workload"`
	Container      string           `json:"container"`
	Target         map[string]int64 `json:"target"`
	LowerBound     map[string]int64 `json:"lowerBound"`
	UpperBound     map[string]int64 `json:"upperBound"`
	UncappedTarget map[string]int64 `json:"uncappedTarget"`
}

func unixTime(seconds float64) time.Time {
	return time.Unix(0, int64(seconds*1e9)).UTC()
}

// labelValue turns "Kind/name" into a valid label value.
func labelValue(workload string) string {
	out := []byte(workload)
	for i, c := range out {
		if c == '/' {
			out[i] = '.'
		}
	}
	return string(out)
}

func run() error {
	var input []container
	if err := json.NewDecoder(os.Stdin).Decode(&input); err != nil {
		return fmt.Errorf("decoding stdin: %w", err)
	}
	if err := features.MutableFeatureGate.SetFromMap(map[string]bool{string(features.PerVPAConfig): true}); err != nil {
		return err
	}
	cluster := model.NewClusterState(time.Hour)
	type workloadKey struct{ namespace, workload string }
	workloads := map[workloadKey]bool{}
	policies := map[workloadKey]*vpa_types.PodResourcePolicy{}
	var events []event
	for _, c := range input {
		podID := model.PodID{Namespace: c.Namespace, PodName: c.Pod}
		cluster.AddOrUpdatePod(podID, labels.Set{workloadLabel: labelValue(c.Workload)}, corev1.PodRunning)
		id := model.ContainerID{PodID: podID, ContainerName: c.Container}
		if err := cluster.AddOrUpdateContainer(id, model.Resources{}); err != nil {
			return err
		}
		key := workloadKey{c.Namespace, c.Workload}
		workloads[key] = true
		if c.Policy != nil {
			policy := *c.Policy
			if policy.ContainerName == "" {
				policy.ContainerName = c.Container
			}
			if policies[key] == nil {
				policies[key] = &vpa_types.PodResourcePolicy{}
			}
			known := false
			for _, p := range policies[key].ContainerPolicies {
				known = known || p.ContainerName == policy.ContainerName
			}
			if !known {
				policies[key].ContainerPolicies = append(policies[key].ContainerPolicies, policy)
			}
		}
		for kind, samples := range [][][2]float64{c.CPU, c.Memory, c.OOMs} {
			for _, s := range samples {
				events = append(events, event{unixTime(s[0]), kind, id, s[1]})
			}
		}
	}
	for key := range workloads {
		selector, err := labels.Parse(workloadLabel + "=" + labelValue(key.workload))
		if err != nil {
			return err
		}
		vpa := &vpa_types.VerticalPodAutoscaler{ObjectMeta: metav1.ObjectMeta{
			Namespace: key.namespace, Name: labelValue(key.workload)},
			Spec: vpa_types.VerticalPodAutoscalerSpec{ResourcePolicy: policies[key]}}
		if err := cluster.AddOrUpdateVpa(vpa, selector); err != nil {
			return err
		}
	}
	sort.SliceStable(events, func(i, j int) bool {
		if !events[i].at.Equal(events[j].at) {
			return events[i].at.Before(events[j].at)
		}
		return events[i].kind < events[j].kind
	})
	for _, e := range events {
		switch e.kind {
		case 0, 1:
			sample := model.ContainerUsageSampleWithKey{Container: e.id}
			sample.MeasureStart = e.at
			if e.kind == 0 {
				sample.Resource, sample.Usage = model.ResourceCPU, model.CPUAmountFromCores(e.value)
			} else {
				sample.Resource, sample.Usage = model.ResourceMemory, model.MemoryAmountFromBytes(e.value)
			}
			_ = cluster.AddSample(&sample) // dropped samples (out of order) are upstream's choice
		case 2:
			_ = cluster.RecordOOM(e.id, e.at, model.MemoryAmountFromBytes(e.value))
		}
	}

	recommender := logic.CreatePodResourceRecommender(defaultConfig)
	format := logic.RecommendationFormat{RoundCPUMillicores: 1, RoundMemoryBytes: 1}
	var out []output
	for id, vpa := range cluster.VPAs() {
		var workload string
		for key := range workloads {
			if key.namespace == id.Namespace && labelValue(key.workload) == id.VpaName {
				workload = key.workload
			}
		}
		states := vpa.AggregateStateByContainerName()
		for _, state := range states { // as routines.GetContainerNameToAggregateStateMap does
			state.UpdateFromPolicy(nil)
		}
		resources := recommender.GetRecommendedPodResources(states)
		list := logic.MapToListOfRecommendedContainerResources(resources, format)
		for _, rec := range list.ContainerRecommendations {
			out = append(out, output{
				Namespace: id.Namespace, Workload: workload, Container: rec.ContainerName,
				Target: amounts(rec.Target), LowerBound: amounts(rec.LowerBound),
				UpperBound: amounts(rec.UpperBound), UncappedTarget: amounts(rec.UncappedTarget),
			})
		}
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.Namespace != b.Namespace {
			return a.Namespace < b.Namespace
		}
		if a.Workload != b.Workload {
			return a.Workload < b.Workload
		}
		return a.Container < b.Container
	})
	encoder := json.NewEncoder(os.Stdout)
	encoder.SetIndent("", "  ")
	return encoder.Encode(out)
}

func amounts(list corev1.ResourceList) map[string]int64 {
	cpu, memory := list[corev1.ResourceCPU], list[corev1.ResourceMemory]
	return map[string]int64{"cpu": cpu.MilliValue(), "memory": memory.Value()}
}

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "upstream-recommender:", err)
		os.Exit(1)
	}
}
