// Command prioritized runs Karpenter's controllers with its kwok cloud provider, as the
// upstream command sigs.k8s.io/karpenter/kwok does, except for one step: the launch.
//
// Why it exists: Karpenter applies NodeOverlay prices in its scheduling simulation only.
// The NodeClaim it creates lists every instance type that fits, and the cloud provider
// chooses among them. The AWS provider passes the adjusted prices to EC2 CreateFleet as
// priorities ("prioritized" on-demand, "capacity-optimized-prioritized" spot allocation),
// so an overlay moves the purchase. The kwok provider picks the cheapest *list* price, so
// an overlay never moves a kwok purchase. This command narrows each NodeClaim to the
// offering with the lowest adjusted price before the kwok provider launches it, which is
// the AWS rule with unlimited capacity. tidewise's end-to-end tests use it to see the
// purchase a risk or commitment price leads to; docs/karpenter.md says more.
package main

import (
	"os"

	"sigs.k8s.io/controller-runtime/pkg/log"

	kwok "sigs.k8s.io/karpenter/kwok/cloudprovider"
	"sigs.k8s.io/karpenter/pkg/cloudprovider/overlay"
	"sigs.k8s.io/karpenter/pkg/controllers"
	"sigs.k8s.io/karpenter/pkg/controllers/state"
	"sigs.k8s.io/karpenter/pkg/operator"
)

func main() {
	ctx, op := operator.NewOperator()
	instanceTypes, err := kwok.ConstructInstanceTypes(ctx)
	if err != nil {
		log.FromContext(ctx).Error(err, "reading the instance types")
		os.Exit(1)
	}
	listPrices := kwok.NewCloudProvider(ctx, op.GetClient(), instanceTypes)
	adjusted := overlay.Decorate(listPrices, op.GetClient(), op.InstanceTypeStore)
	provider := &lowestAdjustedPrice{CloudProvider: adjusted, kubeClient: op.GetClient()}
	cluster := state.NewCluster(op.Clock, op.GetClient(), provider)
	op.WithControllers(ctx, controllers.NewControllers(
		ctx, op.Manager, op.Clock, op.GetClient(), op.EventRecorder,
		provider, listPrices, cluster, op.InstanceTypeStore,
	)...).Start(ctx)
}
