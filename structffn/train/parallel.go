package train

import (
	"fmt"

	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/pkg/core/distributed"

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
// devices devices (with accum gradient-accumulation micro-batches per step, which is not combined
// with distributed steps), and returns nil for devices == 1 (plain single-device steps). Stepper
// runs the steps.
func NewDataParallel(b backends.Backend, name string, devices, batch, accum int) (*DataParallel, error) {
	switch {
	case devices == 1:
		return nil, nil
	case devices == DevicesAuto:
		return nil, fmt.Errorf("-set devices=0 (chosen by measurement) was not resolved: call train.ResolveDevices before building the steps")
	case devices < 1:
		return nil, fmt.Errorf("-set devices=%d: must be 1 (one device) or more", devices)
	case accum > 1:
		return nil, fmt.Errorf("-set devices=%d with grad_accum=%d: gradient accumulation is not combined with distributed steps; use one of them (more devices, or a larger grad_accum on one)", devices, accum)
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
