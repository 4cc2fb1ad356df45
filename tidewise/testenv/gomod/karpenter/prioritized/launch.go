package main

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "sigs.k8s.io/karpenter/pkg/apis/v1"
	"sigs.k8s.io/karpenter/pkg/cloudprovider"
	"sigs.k8s.io/karpenter/pkg/scheduling"
)

// lowestAdjustedPrice is a cloud provider whose every call but Create goes to the one it
// wraps (which prices instance types with the NodeOverlays applied); Create first narrows
// the NodeClaim to its offering with the lowest adjusted price.
type lowestAdjustedPrice struct {
	cloudprovider.CloudProvider
	kubeClient client.Client
}

func (p *lowestAdjustedPrice) Create(ctx context.Context, nodeClaim *v1.NodeClaim) (*v1.NodeClaim, error) {
	narrowed, err := p.narrow(ctx, nodeClaim)
	if err != nil {
		return nil, err
	}
	return p.CloudProvider.Create(ctx, narrowed)
}

// narrow returns a copy of the NodeClaim that allows only the instance type, zone and
// capacity type of its cheapest offering at adjusted prices (ties go to the first name in
// alphabetical order). A NodeClaim with minValues keeps all its options: narrowing it would
// break the flexibility its NodePool asks for.
func (p *lowestAdjustedPrice) narrow(ctx context.Context, nodeClaim *v1.NodeClaim) (*v1.NodeClaim, error) {
	requirements := scheduling.NewNodeSelectorRequirementsWithMinValues(nodeClaim.Spec.Requirements...)
	if requirements.HasMinValues() {
		return nodeClaim, nil
	}
	nodePool := &v1.NodePool{}
	name := types.NamespacedName{Name: nodeClaim.Labels[v1.NodePoolLabelKey]}
	if err := p.kubeClient.Get(ctx, name, nodePool); err != nil {
		return nil, fmt.Errorf("getting the nodepool of the nodeclaim, %w", err)
	}
	instanceTypes, err := p.CloudProvider.GetInstanceTypes(ctx, nodePool)
	if err != nil {
		return nil, fmt.Errorf("getting instance types, %w", err)
	}
	allowed := requirements.Get(corev1.LabelInstanceTypeStable)
	var best *cloudprovider.Offering
	bestType := ""
	for _, instanceType := range instanceTypes {
		if !allowed.Has(instanceType.Name) {
			continue
		}
		offerings := instanceType.Offerings.Available().Compatible(requirements)
		if len(offerings) == 0 {
			continue
		}
		cheapest := offerings.Cheapest()
		if best == nil || cheapest.Price < best.Price || (cheapest.Price == best.Price && instanceType.Name < bestType) {
			best, bestType = cheapest, instanceType.Name
		}
	}
	if best == nil {
		return nodeClaim, nil
	}
	requirements.Add(scheduling.NewRequirement(corev1.LabelInstanceTypeStable, corev1.NodeSelectorOpIn, bestType))
	requirements.Add(best.Requirements.Values()...)
	narrowed := nodeClaim.DeepCopy()
	narrowed.Spec.Requirements = requirements.NodeSelectorRequirements()
	return narrowed, nil
}
