package train

import (
	"fmt"

	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/pkg/core/distributed"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"
	gomlxtrain "github.com/gomlx/gomlx/pkg/ml/train"

	"github.com/structffn/structffn/structffn/backend"
)

// DataAxis names the device-mesh axis that data-parallel training splits batches over.
const DataAxis = "data"

// DataParallel runs training steps with each batch split over the devices of a one-axis mesh. The
// graph is the same global-batch graph as on one device; GoMLX hands it to XLA with the inputs
// sharded along the batch axis and the variables replicated (distributed.AutoSharding), and XLA's
// SPMD partitioner inserts the gradient all-reduce. Losses and updates are those of one device up
// to the order of float32 sums.
//
// A nil *DataParallel runs plain single-device steps.
type DataParallel struct {
	Devices int
	batch   *distributed.ShardingSpec // [batch, context] split on axis 0
}

// NewDataParallel checks that backend b (named name) can split batches of batch sequences over
// devices devices (with accum gradient-accumulation micro-batches per step, which GoMLX cannot
// combine with distributed steps), and returns nil for devices == 1 (plain single-device steps).
func NewDataParallel(b backends.Backend, name string, devices, batch, accum int) (*DataParallel, error) {
	switch {
	case devices == 1:
		return nil, nil
	case devices < 1:
		return nil, fmt.Errorf("-set devices=%d: must be 1 (one device) or more", devices)
	case accum > 1:
		return nil, fmt.Errorf("-set devices=%d with grad_accum=%d: GoMLX v0.26.0 cannot accumulate gradients in distributed steps; use one of them (more devices, or a larger grad_accum on one)", devices, accum)
	case batch%devices != 0:
		return nil, fmt.Errorf("-set devices=%d must divide the batch (%d sequences): -set batch=%d", devices, batch, (batch/devices+1)*devices)
	}
	if n := b.NumDevices(); n < devices {
		hint := "use fewer devices"
		if name == "xla:cpu" {
			hint = fmt.Sprintf("on the CPU, XLA_FLAGS=%s=%d splits it into that many host devices", backend.HostDevicesFlag, devices)
		} else if name == "go" {
			hint = "the pure-Go backend has one device: use -backend xla:cpu or xla:cuda"
		}
		return nil, fmt.Errorf("-set devices=%d: backend %s has %d device(s); %s", devices, name, n, hint)
	}
	mesh, err := distributed.NewDeviceMesh([]int{devices}, []string{DataAxis})
	if err != nil {
		return nil, err
	}
	spec, err := distributed.BuildSpec(mesh).S(DataAxis).Done()
	if err != nil {
		return nil, err
	}
	return &DataParallel{Devices: devices, batch: spec}, nil
}

// NumDevices is the number of devices each batch is split over (1 for a nil p).
func (p *DataParallel) NumDevices() int {
	if p == nil {
		return 1
	}
	return p.Devices
}

// TrainStep runs one optimizer step of trainer (graph key spec) on the global batch inputs/labels
// ([batch, context] each), sharded over the mesh; with a nil p, on one device.
func (p *DataParallel) TrainStep(trainer *gomlxtrain.Trainer, spec any, inputs, labels *tensors.Tensor) ([]*tensors.Tensor, error) {
	if p == nil {
		return trainer.TrainStep(spec, []*tensors.Tensor{inputs}, []*tensors.Tensor{labels})
	}
	in, err := distributed.ShardTensor(p.batch, inputs)
	if err != nil {
		return nil, err
	}
	tg, err := distributed.ShardTensor(p.batch, labels)
	if err != nil {
		return nil, err
	}
	return trainer.DistributedTrainStep(distributed.AutoSharding, nil, spec, []*distributed.Tensor{in}, []*distributed.Tensor{tg})
}

// SetupSteps prepares trainer (on backend b, named name) for the steps ctx's settings ask for: the
// batch of batch sequences as grad_accum micro-batches whose gradients GoMLX averages (it returns
// that count), each split over devices (the returned DataParallel; nil for one device). train.Run and
// the training benchmark share it, so they take the same steps.
func SetupSteps(trainer *gomlxtrain.Trainer, b backends.Backend, name string, ctx *context.Context, batch int) (accum int, parallel *DataParallel, err error) {
	accum = context.GetParamOr(ctx, ParamGradAccum, 1)
	if accum < 1 || batch%accum != 0 {
		return 0, nil, fmt.Errorf("-set grad_accum=%d must be a positive divisor of the batch (%d sequences)", accum, batch)
	}
	if parallel, err = NewDataParallel(b, name, context.GetParamOr(ctx, ParamDevices, 1), batch, accum); err != nil {
		return 0, nil, err
	}
	if accum > 1 {
		if err := trainer.AccumulateGradients(accum); err != nil {
			return 0, nil, err
		}
	}
	return accum, parallel, nil
}
