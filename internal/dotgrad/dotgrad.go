// Package dotgrad replaces GoMLX v0.26.0's DotGeneral gradient with the textbook one: two DotGenerals.
//
// The stock gradient (graph/ops_helpers.go, dotGeneralVJP) builds each operand's adjoint as a broadcast
// multiply of the output adjoint with the other operand followed by a ReduceSum. For y = x·W with
// x [tokens, in] and W [in, out] that materialises a [tokens, out, in] temporary per matrix: on the
// pure-Go backend it is both the time (no fused kernel) and the memory (gigabytes for a tiny GPT) of a
// training step. XLA pattern-matches much of it back into a dot, but not always, so the replacement is
// installed for every backend: for
//
//	C = DotGeneral(A, contract ca, batch ba; B, contract cb, batch bb)   // C [batch..., aCross..., bCross...]
//
// the adjoints are
//
//	dA = DotGeneral(dC, contract bCross-of-C, batch; B, contract bCross, batch)  // [batch..., aCross..., B's contracting...]
//	dB = DotGeneral(dC, contract aCross-of-C, batch; A, contract aCross, batch)  // [batch..., bCross..., A's contracting...]
//
// each transposed back to its operand's axis order. Install is called from this package's init, so
// importing it (structffn/linear does) is enough.
package dotgrad

import (
	"reflect"
	"sync"

	. "github.com/gomlx/gomlx/pkg/core/graph" //nolint:staticcheck // graph code reads like math.
	"github.com/gomlx/gomlx/pkg/core/shapes"
)

// Stock is GoMLX's own DotGeneral VJP, kept for comparison (tests) and for Uninstall.
var Stock = VJPRegistration[NodeTypeDotGeneral]

var installMu sync.Mutex

func init() { Install() }

// Install registers DotGeneralVJP as the DotGeneral gradient for every graph built afterwards. It is a no-op
// (keeping the stock gradient) if this GoMLX version's DotGeneral node does not carry its axes where
// VJP looks for them, which the package tests check.
func Install() {
	installMu.Lock()
	defer installMu.Unlock()
	if layoutOK() {
		VJPRegistration[NodeTypeDotGeneral] = DotGeneralVJP
	}
}

// Uninstall restores GoMLX's stock DotGeneral gradient.
func Uninstall() {
	installMu.Lock()
	defer installMu.Unlock()
	VJPRegistration[NodeTypeDotGeneral] = Stock
}

// Axes are the operands and axes a DotGeneral node was built with.
type Axes struct {
	LHS, RHS                 *Node
	LHSContracting, LHSBatch []int
	RHSContracting, RHSBatch []int
	lhsCross, rhsCross       []int // Neither contracted nor batch, increasing: the output's cross axes.
}

// layoutOK reports whether nodeAxes can read GoMLX's DotGeneral node parameters.
func layoutOK() bool {
	t := reflect.TypeFor[Node]()
	f, ok := t.FieldByName("inputs")
	if !ok || f.Type.Kind() != reflect.Interface {
		return false
	}
	return true
}

// NodeAxes reads the operands and axes of a DotGeneral node. GoMLX v0.26.0 keeps them in an unexported
// struct (nodeInputsDotGeneral); reflection reads them without unsafe, and ok is false if the layout is
// not the expected one.
func NodeAxes(node *Node) (a Axes, ok bool) {
	defer func() {
		if recover() != nil {
			ok = false
		}
	}()
	in := reflect.ValueOf(node).Elem().FieldByName("inputs")
	if !in.IsValid() || in.IsNil() {
		return a, false
	}
	s := in.Elem().Elem() // *nodeInputsDotGeneral -> struct
	ints := func(name string) []int {
		v := s.FieldByName(name)
		out := make([]int, v.Len())
		for i := range out {
			out[i] = int(v.Index(i).Int())
		}
		return out
	}
	inputs := node.Inputs()
	if len(inputs) != 2 {
		return a, false
	}
	a = Axes{
		LHS: inputs[0], RHS: inputs[1],
		LHSContracting: ints("lhsContractingAxes"), LHSBatch: ints("lhsBatchAxes"),
		RHSContracting: ints("rhsContractingAxes"), RHSBatch: ints("rhsBatchAxes"),
	}
	if len(a.LHSContracting) != len(a.RHSContracting) || len(a.LHSBatch) != len(a.RHSBatch) {
		return a, false
	}
	a.lhsCross = crossAxes(a.LHS.Rank(), a.LHSContracting, a.LHSBatch)
	a.rhsCross = crossAxes(a.RHS.Rank(), a.RHSContracting, a.RHSBatch)
	return a, true
}

// crossAxes are the axes of a rank-r operand that are neither contracted nor batch, in increasing order
// (the order DotGeneral lays them out in its output).
func crossAxes(rank int, contracting, batch []int) []int {
	used := make([]bool, rank)
	for _, ax := range contracting {
		used[ax] = true
	}
	for _, ax := range batch {
		used[ax] = true
	}
	var cross []int
	for ax, u := range used {
		if !u {
			cross = append(cross, ax)
		}
	}
	return cross
}

// DotGeneralVJP is the DotGeneral gradient as two DotGenerals (see the package comment). It falls back to Stock
// when the node's axes cannot be read.
func DotGeneralVJP(node *Node, vjpOutputs []*Node, outputShape shapes.Shape) []*Node {
	a, ok := NodeAxes(node)
	if !ok {
		return Stock(node, vjpOutputs, outputShape)
	}
	v := vjpOutputs[0] // [batch..., lhsCross..., rhsCross...]
	nb, nl, nr := len(a.LHSBatch), len(a.lhsCross), len(a.rhsCross)
	vBatch := iota(0, nb)
	vLHSCross := iota(nb, nl)
	vRHSCross := iota(nb+nl, nr)
	dA := operandGrad(v, vRHSCross, vBatch, a.RHS, a.rhsCross, a.RHSBatch, a.RHSContracting,
		a.LHS.Rank(), a.LHSBatch, a.lhsCross, a.LHSContracting)
	dB := operandGrad(v, vLHSCross, vBatch, a.LHS, a.lhsCross, a.LHSBatch, a.LHSContracting,
		a.RHS.Rank(), a.RHSBatch, a.rhsCross, a.RHSContracting)
	return []*Node{dA, dB}
}

// operandGrad computes the adjoint of one operand ("this") of a DotGeneral from the output adjoint v
// and the other operand. vContract are v's axes holding the other operand's cross axes (otherCross),
// which are contracted away; batch axes pair up. The DotGeneral result is laid out as
// [batch..., thisCross..., otherContracting (in the other operand's axis order)...] and is transposed
// to this operand's axis order, where otherContracting[k] pairs with thisContracting[k].
func operandGrad(v *Node, vContract, vBatch []int, other *Node, otherCross, otherBatch, otherContracting []int,
	thisRank int, thisBatch, thisCross, thisContracting []int) *Node {
	g := DotGeneral(v, vContract, vBatch, other, otherCross, otherBatch)
	// Position of each of this operand's axes in g.
	nb, nc := len(thisBatch), len(thisCross)
	pos := make([]int, thisRank)
	for i, ax := range thisBatch {
		pos[ax] = i
	}
	for i, ax := range thisCross {
		pos[ax] = nb + i
	}
	// The other operand's remaining (contracting) axes appear in g in increasing axis order.
	remaining := crossAxes(other.Rank(), otherCross, otherBatch) // == sorted(otherContracting)
	where := make(map[int]int, len(remaining))
	for i, ax := range remaining {
		where[ax] = nb + nc + i
	}
	for k, ax := range thisContracting {
		pos[ax] = where[otherContracting[k]]
	}
	// TransposeAllAxes(x, perm): output axis i is input axis perm[i]; output axis ax must be g's pos[ax].
	identity := true
	for i, p := range pos {
		if i != p {
			identity = false
		}
	}
	if identity {
		return g
	}
	return TransposeAllAxes(g, pos...)
}

func iota(start, n int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = start + i
	}
	return out
}
