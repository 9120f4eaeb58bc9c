package flows

import (
	"cmp"
	"encoding/xml"
	"math"
	"slices"
	"strconv"
	"strings"
	"unicode"
)

// SVGOptions change what SVG draws.
type SVGOptions struct {
	// Badges are short texts drawn on a step's node (the console shows how
	// many runs wait there), keyed by the step. Empty texts and steps that
	// are not in the flow are left out; texts are cut to 12 characters.
	Badges map[*Step]string
}

// SVG renders the flow's graph (the same nodes and edges as Mermaid) as a
// standalone SVG document, laid out top-down: triggers on top, each step
// below the steps that lead to it, the end of the flow at the bottom.
//
// Every node is a <g class="node ..."> with a <title> holding its whole
// label: triggers have class "node trigger" and data-node="tN", steps
// class "node step", data-step="sN" and data-kind (the step's kind), and
// the end of the flow class "node exit". Every edge is one
// <path class="edge"> with data-from and data-to; jumps also have class
// "jump" (dashed) and edges drawn upwards (back to an earlier step)
// "back". Labels of edges are <g class="edge-label">, badges
// <g class="badge">. The output is the same for the same flow and badges.
func SVG(f *Flow, o SVGOptions) string {
	l := newSVGLayout(buildFlowGraph(f))
	l.rank()
	l.layer()
	l.order()
	l.place()
	return l.render(f, o)
}

// Sizes of the drawing, in pixels.
const (
	svgFont       = 13.0  // font size of node text
	svgLineH      = 17.0  // line height
	svgPadX       = 12.0  // text to the sides of a box
	svgPadY       = 8.0   // text to the top and bottom of a box
	svgTextMax    = 330.0 // node text wider than this wraps
	svgLabelMax   = 240.0 // edge label text wider than this wraps
	svgWrapLines  = 3     // lines a label line may wrap into
	svgNodeGap    = 28.0  // between two nodes of a layer
	svgDummyGap   = 12.0  // between an edge and a node of a layer
	svgEdgeGap    = 10.0  // between two edges of a layer
	svgLayerGap   = 20.0  // between layers (a rank is two layers)
	svgMargin     = 10.0  // around the drawing
	svgPortStep   = 14.0  // between edges leaving one side of a node
	svgBadgeH     = 18.0
	svgBadgeFont  = 11.0
	svgBadgeChars = 12
)

// svgNode is a node of the layered graph: a node of the flow's graph, or
// a point an edge passes through on a layer between its ends (a dummy;
// the one holding the edge's label has the label's size).
type svgNode struct {
	node        int // index in flowGraph.nodes, -1 for a dummy
	layer, pos  int
	x, y        float64 // x: center; y: top of the box
	w, h        float64
	left, right float64 // room taken either side of x
	lines       []svgLine
}

type svgLine struct {
	text  string
	class string
}

// svgSeg is a piece of an edge between two adjacent layers.
type svgSeg struct {
	top, bot         int // layered nodes
	edge             int
	weight           float64
	topPort, botPort float64 // x where it leaves top / enters bot
}

// svgEdge is how an edge of the flow's graph is laid out.
type svgEdge struct {
	self, back bool
	chain      []int // layered nodes from the upper end to the lower
	label      int   // the dummy holding its label, or -1
	lines      []svgLine
	lw, lh     float64 // label size
}

type svgLayout struct {
	g        *flowGraph
	nodes    []*svgNode // the graph's nodes first, then dummies
	edges    []svgEdge  // as g.edges
	segs     []svgSeg
	up, down [][]int // segments into / out of each layered node
	layers   [][]int
	loops    [][]int // self-loop edges of each graph node
	rankOf   []int
	bandTop  []float64
	bandH    []float64
}

func newSVGLayout(g *flowGraph) *svgLayout {
	l := &svgLayout{g: g, edges: make([]svgEdge, len(g.edges)), loops: make([][]int, len(g.nodes))}
	for i, n := range g.nodes {
		sn := &svgNode{node: i}
		for j, line := range n.lines {
			class := "label"
			if n.role == graphStep && n.step != nil && n.step.ID != "" && j == len(n.lines)-1 {
				class = "id"
			}
			for _, part := range splitLabel(line) {
				for _, w := range wrapText(part, svgTextMax, svgWrapLines) {
					sn.lines = append(sn.lines, svgLine{w, class})
				}
			}
		}
		text := 0.0
		for _, line := range sn.lines {
			text = max(text, textWidth(line.text))
		}
		sn.h = float64(len(sn.lines))*svgLineH + 2*svgPadY
		sn.w = max(text+2*svgPadX+shapeExtra(svgShape(n), sn.h), 56)
		sn.left, sn.right = sn.w/2, sn.w/2
		l.nodes = append(l.nodes, sn)
	}
	for i, e := range g.edges {
		le := &l.edges[i]
		le.label = -1
		if e.label != "" {
			for _, part := range splitLabel(e.label) {
				for _, w := range wrapText(part, svgLabelMax, svgWrapLines) {
					le.lines = append(le.lines, svgLine{w, "label"})
				}
			}
			for _, line := range le.lines {
				le.lw = max(le.lw, textWidth(line.text)*12/svgFont)
			}
			le.lw += 10
			le.lh = float64(len(le.lines))*15 + 4
		}
	}
	return l
}

// splitLabel splits a line of a label where the text itself has
// newlines, as mermaidLabel does.
func splitLabel(s string) []string {
	s = strings.ReplaceAll(s, "\r", "")
	s = strings.ReplaceAll(s, "\t", " ")
	return strings.Split(s, "\n")
}

// rank finds the edges that go back (a DFS from the triggers, going on
// before jumping) and ranks the nodes by the longest path from the
// triggers over the other edges; the end of the flow goes to the bottom,
// and steps no path from a trigger reaches go just above where they lead.
func (l *svgLayout) rank() {
	g := l.g
	n := len(g.nodes)
	out := make([][]int, n)
	for _, jump := range []bool{false, true} {
		for i, e := range g.edges {
			if e.jump == jump {
				out[e.from] = append(out[e.from], i)
			}
		}
	}
	state := make([]uint8, n)
	var post []int
	var dfs func(v int)
	dfs = func(v int) {
		state[v] = 1
		for _, i := range out[v] {
			w := g.edges[i].to
			switch {
			case w == v:
				l.edges[i].self = true
			case state[w] == 0:
				dfs(w)
			case state[w] == 1:
				l.edges[i].back = true
			}
		}
		state[v] = 2
		post = append(post, v)
	}
	for v := range n {
		if g.nodes[v].role == graphTrigger && state[v] == 0 {
			dfs(v)
		}
	}
	reachedBy := make([]bool, n)
	for _, v := range post {
		reachedBy[v] = true
	}
	for v := range n {
		if state[v] == 0 {
			dfs(v)
		}
	}

	forward := func(i int) bool { return !l.edges[i].self && !l.edges[i].back }
	rank := make([]int, n)
	for k := len(post) - 1; k >= 0; k-- {
		u := post[k]
		for _, i := range out[u] {
			if forward(i) {
				v := g.edges[i].to
				rank[v] = max(rank[v], rank[u]+1)
			}
		}
	}
	bottom, exit := 0, -1
	for v := range n {
		if g.nodes[v].role == graphExit {
			exit = v
		} else {
			bottom = max(bottom, rank[v])
		}
	}
	if exit >= 0 && rank[exit] <= bottom {
		rank[exit] = bottom + 1
	}
	// Successors come before their predecessors in post.
	for _, v := range post {
		if reachedBy[v] || g.nodes[v].role != graphStep {
			continue
		}
		lowest := -1
		for _, i := range out[v] {
			if forward(i) {
				if r := rank[g.edges[i].to] - 1; lowest < 0 || r < lowest {
					lowest = r
				}
			}
		}
		switch {
		case lowest > rank[v]:
			rank[v] = lowest
		case lowest < 0 && rank[v] == 0:
			rank[v] = 1
		}
	}
	l.rankOf = rank
}

// addNode adds a node to the layered graph.
func (l *svgLayout) addNode(n *svgNode) int {
	l.nodes = append(l.nodes, n)
	return len(l.nodes) - 1
}

// layer puts the graph's nodes on even layers (two per rank) and turns
// each edge into a chain of segments between adjacent layers, through
// dummies; an edge's label is the dummy next to its source.
func (l *svgLayout) layer() {
	g := l.g
	maxLayer := 0
	for v := range g.nodes {
		l.nodes[v].layer = 2 * l.rankOf[v]
		maxLayer = max(maxLayer, l.nodes[v].layer)
	}
	for i, e := range g.edges {
		le := &l.edges[i]
		if le.self {
			l.loops[e.from] = append(l.loops[e.from], i)
			continue
		}
		top, bot := e.from, e.to
		if le.back {
			top, bot = bot, top
		}
		le.chain = []int{top}
		for r := l.nodes[top].layer + 1; r < l.nodes[bot].layer; r++ {
			le.chain = append(le.chain, l.addNode(&svgNode{node: -1, layer: r}))
		}
		le.chain = append(le.chain, bot)
		if e.label != "" {
			d := le.chain[1]
			if le.back {
				d = le.chain[len(le.chain)-2]
			}
			dn := l.nodes[d]
			dn.lines, dn.w, dn.h = le.lines, le.lw, le.lh
			dn.left, dn.right = le.lw/2, le.lw/2
			le.label = d
		}
	}
	// Room for self-loops and their labels right of their node.
	for v, loops := range l.loops {
		if len(loops) == 0 {
			continue
		}
		labels := 0.0
		for _, i := range loops {
			labels = max(labels, l.edges[i].lw)
		}
		extra := 22 + 10*float64(len(loops)-1) + 4
		if labels > 0 {
			extra += 4 + labels
		}
		l.nodes[v].right += extra
	}
	l.up, l.down = make([][]int, len(l.nodes)), make([][]int, len(l.nodes))
	for i := range l.edges {
		chain := l.edges[i].chain
		for k := 0; k+1 < len(chain); k++ {
			w := 1.0
			switch {
			case l.nodes[chain[k]].node < 0 && l.nodes[chain[k+1]].node < 0:
				w = 8
			case l.nodes[chain[k]].node < 0 || l.nodes[chain[k+1]].node < 0:
				w = 2
			}
			l.segs = append(l.segs, svgSeg{top: chain[k], bot: chain[k+1], edge: i, weight: w})
			l.down[chain[k]] = append(l.down[chain[k]], len(l.segs)-1)
			l.up[chain[k+1]] = append(l.up[chain[k+1]], len(l.segs)-1)
		}
	}
	l.layers = make([][]int, maxLayer+1)
}

// order orders each layer: first as a depth-first walk from the top finds
// the nodes (going on before jumping), then by the barycenters of their neighbours, sweeping down
// and up, keeping the order with the fewest crossings.
func (l *svgLayout) order() {
	seen := make([]bool, len(l.nodes))
	var visit func(n int)
	visit = func(n int) {
		seen[n] = true
		ln := l.nodes[n]
		ln.pos = len(l.layers[ln.layer])
		l.layers[ln.layer] = append(l.layers[ln.layer], n)
		for _, jump := range []bool{false, true} {
			for _, s := range l.down[n] {
				if b := l.segs[s].bot; !seen[b] && l.g.edges[l.segs[s].edge].jump == jump {
					visit(b)
				}
			}
		}
	}
	for n := range l.nodes {
		if l.nodes[n].layer == 0 && !seen[n] {
			visit(n)
		}
	}
	for n := range l.nodes {
		if !seen[n] {
			visit(n)
		}
	}
	best, bestOrder := l.crossings(), l.saveOrder()
	for it := 0; it < l.rounds(12) && best > 0; it++ {
		if it%2 == 0 {
			for r := 1; r < len(l.layers); r++ {
				l.sweep(r, true)
			}
		} else {
			for r := len(l.layers) - 2; r >= 0; r-- {
				l.sweep(r, false)
			}
		}
		if c := l.crossings(); c < best {
			best, bestOrder = c, l.saveOrder()
		}
	}
	l.layers = bestOrder
	for _, layer := range l.layers {
		for i, n := range layer {
			l.nodes[n].pos = i
		}
	}
}

// rounds is how many sweeps to make, fewer on huge layered graphs (long
// jumps over hundreds of steps) so that they still draw in a second.
func (l *svgLayout) rounds(n int) int {
	if len(l.nodes) > 50000 {
		return max(n/4, 2)
	}
	return n
}

func (l *svgLayout) saveOrder() [][]int {
	out := make([][]int, len(l.layers))
	for i, layer := range l.layers {
		out[i] = append([]int(nil), layer...)
	}
	return out
}

// sweep reorders a layer by the mean position of each node's neighbours
// on the layer above (down) or below; nodes without any keep their place.
func (l *svgLayout) sweep(r int, down bool) {
	layer := l.layers[r]
	type item struct {
		n int
		b float64
	}
	var moving []item
	fixed := make([]bool, len(layer))
	for i, n := range layer {
		segs, sum := l.up[n], 0.0
		if !down {
			segs = l.down[n]
		}
		if len(segs) == 0 {
			fixed[i] = true
			continue
		}
		for _, s := range segs {
			other := l.segs[s].top
			if !down {
				other = l.segs[s].bot
			}
			sum += float64(l.nodes[other].pos)
		}
		moving = append(moving, item{n, sum / float64(len(segs))})
	}
	slices.SortStableFunc(moving, func(a, b item) int { return cmp.Compare(a.b, b.b) })
	k := 0
	for i := range layer {
		if !fixed[i] {
			layer[i] = moving[k].n
			k++
		}
		l.nodes[layer[i]].pos = i
	}
}

// crossings counts the pairs of segments that cross.
func (l *svgLayout) crossings() int {
	total := 0
	for r := 0; r+1 < len(l.layers); r++ {
		var pairs [][2]int
		for _, n := range l.layers[r] {
			for _, s := range l.down[n] {
				pairs = append(pairs, [2]int{l.nodes[n].pos, l.nodes[l.segs[s].bot].pos})
			}
		}
		slices.SortFunc(pairs, func(a, b [2]int) int {
			if c := cmp.Compare(a[0], b[0]); c != 0 {
				return c
			}
			return cmp.Compare(a[1], b[1])
		})
		// Count earlier pairs that end further right (a Fenwick tree).
		tree := make([]int, len(l.layers[r+1])+1)
		for k, p := range pairs {
			below := 0
			for i := p[1] + 1; i > 0; i -= i & -i {
				below += tree[i]
			}
			total += k - below
			for i := p[1] + 1; i < len(tree); i += i & -i {
				tree[i]++
			}
		}
	}
	return total
}

// gap is the room between two neighbours of a layer.
func (l *svgLayout) gap(a, b int) float64 {
	na, nb := l.nodes[a], l.nodes[b]
	switch {
	case na.node >= 0 && nb.node >= 0:
		return na.right + svgNodeGap + nb.left
	case na.node >= 0 || nb.node >= 0:
		return na.right + svgDummyGap + nb.left
	}
	return na.right + svgEdgeGap + nb.left
}

// place gives the nodes their coordinates: x by moving each node towards
// its neighbours on the next layers (as far as the order and the gaps
// allow), y by layers, then the ports where edges meet the nodes.
func (l *svgLayout) place() {
	for _, layer := range l.layers {
		x := 0.0
		for i, n := range layer {
			if i > 0 {
				x += l.gap(layer[i-1], n)
			}
			l.nodes[n].x = x
		}
	}
	// Sweeps down (towards the layer above) and up, then a few towards
	// both.
	sweeps := l.rounds(12)
	for it := range sweeps + sweeps/3 {
		switch {
		case it >= sweeps:
			for r := range l.layers {
				l.align(r, true, true)
			}
		case it%2 == 0:
			for r := 1; r < len(l.layers); r++ {
				l.align(r, true, false)
			}
		default:
			for r := len(l.layers) - 2; r >= 0; r-- {
				l.align(r, false, true)
			}
		}
	}
	l.straighten()
	minX := math.Inf(1)
	for _, n := range l.nodes {
		minX = min(minX, n.x-n.left)
	}
	for _, n := range l.nodes {
		n.x -= minX
	}

	l.bandTop, l.bandH = make([]float64, len(l.layers)), make([]float64, len(l.layers))
	y := 0.0
	for r, layer := range l.layers {
		h := 0.0
		for _, n := range layer {
			h = max(h, l.nodes[n].h)
		}
		l.bandTop[r], l.bandH[r] = y, h
		for _, n := range layer {
			l.nodes[n].y = y + (h-l.nodes[n].h)/2
		}
		y += h + svgLayerGap
	}

	// Ports: the edges on each side of a node, spread in the order of
	// where they go.
	for v := range l.g.nodes {
		spread := func(segs []int, other func(s int) int, set func(s int, x float64)) {
			segs = append([]int(nil), segs...)
			slices.SortStableFunc(segs, func(a, b int) int {
				return cmp.Compare(l.nodes[other(a)].x, l.nodes[other(b)].x)
			})
			n := l.nodes[v]
			step := svgPortStep
			if k := len(segs); k > 1 {
				step = min(step, 2*l.flatHalf(v)/float64(k-1))
			}
			for i, s := range segs {
				set(s, n.x+(float64(i)-float64(len(segs)-1)/2)*step)
			}
		}
		spread(l.down[v], func(s int) int { return l.segs[s].bot }, func(s int, x float64) { l.segs[s].topPort = x })
		spread(l.up[v], func(s int) int { return l.segs[s].top }, func(s int, x float64) { l.segs[s].botPort = x })
	}
}

// straighten puts the dummies of each long edge on one vertical line
// where its neighbours leave room for it: at the dummy's x that moves
// them least in all. Where no line fits, it removes the small jogs: a
// dummy moves to the x of the one before it when there is room.
func (l *svgLayout) straighten() {
	fits := func(d int, x float64) bool {
		n := l.nodes[d]
		layer := l.layers[n.layer]
		return (n.pos == 0 || l.nodes[layer[n.pos-1]].x+l.gap(layer[n.pos-1], d) <= x+1e-9) &&
			(n.pos+1 == len(layer) || x+l.gap(d, layer[n.pos+1]) <= l.nodes[layer[n.pos+1]].x+1e-9)
	}
	for i := range l.edges {
		chain := l.edges[i].chain
		if len(chain) < 4 {
			continue // one dummy at most
		}
		dummies := chain[1 : len(chain)-1]
		best, bestCost := 0.0, math.Inf(1)
		for _, c := range dummies {
			x := l.nodes[c].x
			cost := 0.0
			for _, d := range dummies {
				if !fits(d, x) {
					cost = math.Inf(1)
					break
				}
				cost += math.Abs(l.nodes[d].x - x)
			}
			if cost < bestCost {
				best, bestCost = x, cost
			}
		}
		if !math.IsInf(bestCost, 1) {
			for _, d := range dummies {
				l.nodes[d].x = best
			}
			continue
		}
		for range 2 {
			for k := 1; k < len(dummies); k++ {
				if x := l.nodes[dummies[k-1]].x; math.Abs(l.nodes[dummies[k]].x-x) < 40 && fits(dummies[k], x) {
					l.nodes[dummies[k]].x = x
				}
			}
			for k := len(dummies) - 2; k >= 0; k-- {
				if x := l.nodes[dummies[k+1]].x; math.Abs(l.nodes[dummies[k]].x-x) < 40 && fits(dummies[k], x) {
					l.nodes[dummies[k]].x = x
				}
			}
		}
	}
}

// align moves the nodes of a layer towards the weighted mean x of their
// neighbours above and/or below, keeping their order and gaps: the least
// squares solution, by pooling adjacent violators.
func (l *svgLayout) align(r int, up, down bool) {
	layer := l.layers[r]
	if len(layer) == 0 {
		return
	}
	type block struct {
		w, sum float64
		n      int
	}
	blocks := make([]block, 0, len(layer))
	offset := make([]float64, len(layer))
	for i, n := range layer {
		if i > 0 {
			offset[i] = offset[i-1] + l.gap(layer[i-1], n)
		}
		w, sum := 0.0, 0.0
		if up {
			for _, s := range l.up[n] {
				w += l.segs[s].weight
				sum += l.segs[s].weight * l.nodes[l.segs[s].top].x
			}
		}
		if down {
			for _, s := range l.down[n] {
				w += l.segs[s].weight
				sum += l.segs[s].weight * l.nodes[l.segs[s].bot].x
			}
		}
		if w == 0 {
			w, sum = 1e-3, 1e-3*l.nodes[n].x
		}
		b := block{w: w, sum: sum - w*offset[i], n: 1}
		for len(blocks) > 0 {
			last := blocks[len(blocks)-1]
			if last.sum/last.w <= b.sum/b.w {
				break
			}
			b = block{w: last.w + b.w, sum: last.sum + b.sum, n: last.n + b.n}
			blocks = blocks[:len(blocks)-1]
		}
		blocks = append(blocks, b)
	}
	i := 0
	for _, b := range blocks {
		for range b.n {
			l.nodes[layer[i]].x = b.sum/b.w + offset[i]
			i++
		}
	}
}

// Shapes of nodes.
const (
	shapeRect  = iota
	shapeRound // wait
	shapePill  // triggers, end, the end of the flow
	shapeHex   // decisions: ask, branch, hours
	shapePara  // http
	shapeFlag  // goto
	shapeSub   // start
)

// svgShape is the shape of a node, after stepShape's.
func svgShape(n graphNode) int {
	switch n.role {
	case graphTrigger, graphExit:
		return shapePill
	}
	switch n.kind {
	case "ask", "branch", "hours":
		return shapeHex
	case "end":
		return shapePill
	case "wait":
		return shapeRound
	case "http":
		return shapePara
	case "goto":
		return shapeFlag
	case "start":
		return shapeSub
	}
	return shapeRect
}

// hexInset is how far a hexagon's points stick out of its flat top.
func hexInset(h float64) float64 { return min(max(h/3, 10), 18) }

const (
	paraSkew = 10.0
	flagCut  = 12.0
	subBar   = 7.0
)

// shapeExtra is the width a shape needs besides its text's.
func shapeExtra(shape int, h float64) float64 {
	switch shape {
	case shapePill:
		return h / 2
	case shapeHex:
		return 2 * hexInset(h)
	case shapePara:
		return 2 * paraSkew
	case shapeFlag:
		return flagCut
	case shapeSub:
		return 2 * subBar
	}
	return 0
}

// flatHalf is how far from a node's center its top and bottom are flat,
// for edges to meet them.
func (l *svgLayout) flatHalf(v int) float64 {
	n := l.nodes[v]
	half := n.w/2 - 8
	switch svgShape(l.g.nodes[v]) {
	case shapePill:
		half = n.w/2 - n.h/2
	case shapeHex:
		half = n.w/2 - hexInset(n.h)
	case shapePara:
		half = n.w/2 - paraSkew - 4
	}
	return max(half, 0)
}

// rightAt is the x of a node's right side dy below (above, if negative)
// its middle.
func (l *svgLayout) rightAt(v int, dy float64) float64 {
	n := l.nodes[v]
	right, half := n.x+n.w/2, n.h/2
	dy = min(math.Abs(dy), half)
	switch svgShape(l.g.nodes[v]) {
	case shapePill:
		return right - half + math.Sqrt(half*half-dy*dy)
	case shapeHex:
		return right - hexInset(n.h)*dy/half
	case shapePara:
		return right - paraSkew/2 - paraSkew*dy/n.h
	}
	return right
}

type svgPoint struct{ x, y float64 }

// svgWriter writes the elements of the drawing and keeps their bounds.
type svgWriter struct {
	b                      strings.Builder
	minX, minY, maxX, maxY float64
	any                    bool
}

func (w *svgWriter) extend(x0, y0, x1, y1 float64) {
	if !w.any {
		w.minX, w.minY, w.maxX, w.maxY, w.any = x0, y0, x1, y1, true
		return
	}
	w.minX, w.minY = min(w.minX, x0), min(w.minY, y0)
	w.maxX, w.maxY = max(w.maxX, x1), max(w.maxY, y1)
}

func (w *svgWriter) str(ss ...string) {
	for _, s := range ss {
		w.b.WriteString(s)
	}
}

// num writes a coordinate with at most one decimal.
func num(x float64) string {
	x = math.Round(x*10) / 10
	if x == 0 {
		x = 0 // no "-0"
	}
	return strconv.FormatFloat(x, 'f', -1, 64)
}

// esc escapes text for XML content and attribute values; characters XML
// does not allow become U+FFFD.
func esc(s string) string {
	var b strings.Builder
	_ = xml.EscapeText(&b, []byte(s))
	return b.String()
}

// text writes lines centered on x, the first line's top at y.
func (w *svgWriter) text(lines []svgLine, x, y float64, lineH float64) {
	for i, line := range lines {
		w.str(`<text class="`, line.class, `" x="`, num(x), `" y="`, num(y+float64(i)*lineH+lineH*0.76), `">`, esc(line.text), "</text>")
	}
}

// path writes a path through points with vertical tangents at each.
func (w *svgWriter) path(pts []svgPoint) string {
	var b strings.Builder
	for i, p := range pts {
		w.extend(p.x, p.y, p.x, p.y)
		if i == 0 {
			b.WriteString("M" + num(p.x) + " " + num(p.y))
			continue
		}
		q := pts[i-1]
		switch {
		case num(q.x) == num(p.x):
			b.WriteString("V" + num(p.y))
			continue
		case math.Abs(q.x-p.x) < 2:
			b.WriteString("L" + num(p.x) + " " + num(p.y))
			continue
		}
		dy := (p.y - q.y) / 2
		b.WriteString("C" + num(q.x) + " " + num(q.y+dy) + " " + num(p.x) + " " + num(p.y-dy) + " " + num(p.x) + " " + num(p.y))
	}
	return b.String()
}

const svgStyle = `.wxflow-graph{background:#fff}
.wxflow-graph text{font-family:system-ui,sans-serif;font-size:13px;fill:#202124;text-anchor:middle;white-space:pre}
.wxflow-graph .id{font-size:11px;fill:#5f6368}
.wxflow-graph .shape{fill:#fff;stroke:#5f6368;stroke-width:1.2}
.wxflow-graph .bar{fill:none;stroke:#5f6368;stroke-width:1.2}
.wxflow-graph .trigger .shape{fill:#e6f4ea;stroke:#188038}
.wxflow-graph .step[data-kind=ask] .shape{fill:#e8f0fe;stroke:#1a73e8}
.wxflow-graph .step[data-kind=branch] .shape{fill:#fef7e0;stroke:#e37400}
.wxflow-graph .step[data-kind=hours] .shape{fill:#f3e8fd;stroke:#8430ce}
.wxflow-graph .step[data-kind=wait] .shape{fill:#f1f3f4}
.wxflow-graph .step[data-kind=http] .shape{fill:#e4f7fb;stroke:#007b83}
.wxflow-graph .step[data-kind=goto] .shape,.wxflow-graph .step[data-kind=start] .shape{fill:#f8f9fa}
.wxflow-graph .step[data-kind=end] .shape{fill:#fce8e6;stroke:#c5221f}
.wxflow-graph .exit .shape{fill:#3c4043;stroke:#3c4043}
.wxflow-graph .exit text{fill:#fff}
.wxflow-graph .edge{fill:none;stroke:#5f6368;stroke-width:1.4}
.wxflow-graph .edge.jump{stroke:#1a73e8;stroke-dasharray:5 4}
.wxflow-graph .arrow{fill:#5f6368}
.wxflow-graph .arrow.jump{fill:#1a73e8}
.wxflow-graph .edge-label rect{fill:#fff;stroke:#dadce0}
.wxflow-graph .edge-label text{font-size:12px;fill:#3c4043}
.wxflow-graph .badge rect{fill:#d93025}
.wxflow-graph .badge text{font-size:11px;font-weight:600;fill:#fff}
`

// render writes the SVG document.
func (l *svgLayout) render(f *Flow, o SVGOptions) string {
	g := l.g
	w := &svgWriter{}

	// Edges, then their labels, then the nodes on top.
	for i, e := range g.edges {
		le := l.edges[i]
		class, marker := "edge", "wxflow-arrow"
		if e.jump {
			class, marker = "edge jump", "wxflow-arrow-jump"
		}
		var d string
		switch {
		case le.self:
			class += " self"
			d = l.loopPath(w, i)
		default:
			if le.back {
				class += " back"
			}
			d = w.path(l.edgePoints(i))
		}
		w.str(`<path class="`, class, `" data-from="`, g.nodes[e.from].id, `" data-to="`, g.nodes[e.to].id, `" d="`, d, `" marker-end="url(#`, marker, `)"/>`, "\n")
	}
	for i, e := range g.edges {
		le := l.edges[i]
		if e.label == "" {
			continue
		}
		var cx, cy float64
		if le.self {
			cx, cy = l.loopLabel(i)
		} else {
			d := l.nodes[le.label]
			cx, cy = d.x, l.bandTop[d.layer]+l.bandH[d.layer]/2
		}
		x0, y0 := cx-le.lw/2, cy-le.lh/2
		w.extend(x0, y0, x0+le.lw, y0+le.lh)
		w.str(`<g class="edge-label" data-from="`, g.nodes[e.from].id, `" data-to="`, g.nodes[e.to].id, `"><title>`, esc(e.label), `</title>`)
		w.str(`<rect x="`, num(x0), `" y="`, num(y0), `" width="`, num(le.lw), `" height="`, num(le.lh), `" rx="3"/>`)
		w.text(le.lines, cx, y0+2, 15)
		w.str("</g>\n")
	}
	for v, gn := range g.nodes {
		l.renderNode(w, v, gn, o)
	}

	var b strings.Builder
	width, height := 0.0, 0.0
	x0, y0 := -svgMargin, -svgMargin
	if w.any {
		x0, y0 = w.minX-svgMargin, w.minY-svgMargin
		width, height = w.maxX-w.minX, w.maxY-w.minY
	}
	width, height = math.Ceil(width+2*svgMargin), math.Ceil(height+2*svgMargin)
	label := "flow graph"
	if f != nil && f.Name != "" {
		label = "flow " + f.Name
	}
	b.WriteString(`<svg xmlns="http://www.w3.org/2000/svg" class="wxflow-graph" width="` + num(width) + `" height="` + num(height) +
		`" viewBox="` + num(x0) + " " + num(y0) + " " + num(width) + " " + num(height) + `" role="img" aria-label="` + esc(label) + `">` + "\n")
	b.WriteString("<style>\n" + svgStyle + "</style>\n")
	b.WriteString(`<defs>`)
	for _, m := range [][2]string{{"wxflow-arrow", "arrow"}, {"wxflow-arrow-jump", "arrow jump"}} {
		b.WriteString(`<marker id="` + m[0] + `" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto"><path class="` + m[1] + `" d="M0 0L10 5L0 10z"/></marker>`)
	}
	b.WriteString("</defs>\n")
	b.WriteString(w.b.String())
	b.WriteString("</svg>\n")
	return b.String()
}

// edgePoints is the way of an edge from its source to its target: from
// a port of the source (its bottom, or its top for an edge going back)
// through its dummies to a port of the target, straight across the
// layers of nodes and curving between them.
func (l *svgLayout) edgePoints(i int) []svgPoint {
	le := l.edges[i]
	var pts []svgPoint
	add := func(x, y float64) {
		if k := len(pts); k > 0 && num(pts[k-1].x) == num(x) && num(pts[k-1].y) == num(y) {
			return
		}
		pts = append(pts, svgPoint{x, y})
	}
	last := len(le.chain) - 1
	for k, v := range le.chain {
		n := l.nodes[v]
		top, h := l.bandTop[n.layer], l.bandH[n.layer]
		switch {
		case k == 0:
			x := l.segs[l.down[v][l.segIndex(l.down[v], i, le.chain[1])]].topPort
			add(x, n.y+n.h)
			add(x, top+h)
		case k == last:
			x := l.segs[l.up[v][l.segIndex(l.up[v], i, le.chain[k-1])]].botPort
			add(x, top)
			add(x, n.y)
		case h > 0:
			add(n.x, top)
			add(n.x, top+h)
		}
	}
	if le.back {
		for a, b := 0, len(pts)-1; a < b; a, b = a+1, b-1 {
			pts[a], pts[b] = pts[b], pts[a]
		}
	}
	return pts
}

// segIndex finds the segment of edge i among segs (those of one node) that
// goes to other.
func (l *svgLayout) segIndex(segs []int, i, other int) int {
	for k, s := range segs {
		if l.segs[s].edge == i && (l.segs[s].top == other || l.segs[s].bot == other) {
			return k
		}
	}
	return 0
}

// loopPath draws a self-loop right of its node.
func (l *svgLayout) loopPath(w *svgWriter, i int) string {
	v := l.g.edges[i].from
	k := l.loopIndex(v, i)
	n := l.nodes[v]
	cy := n.y + n.h/2
	dy := min(6+3*float64(k), n.h/2-2)
	reach := n.x + n.w/2 + 22 + 10*float64(k)
	x0, x1 := l.rightAt(v, -dy), l.rightAt(v, dy)
	w.extend(x0, cy-dy-14, reach, cy+dy+14)
	return "M" + num(x0) + " " + num(cy-dy) + "C" + num(reach) + " " + num(cy-dy-14) + " " + num(reach) + " " + num(cy+dy+14) + " " + num(x1) + " " + num(cy+dy)
}

func (l *svgLayout) loopIndex(v, i int) int {
	for k, e := range l.loops[v] {
		if e == i {
			return k
		}
	}
	return 0
}

// loopLabel is the center of a self-loop's label: right of the loops.
func (l *svgLayout) loopLabel(i int) (x, y float64) {
	v := l.g.edges[i].from
	n, k, loops := l.nodes[v], l.loopIndex(v, i), l.loops[v]
	right := n.x + n.w/2 + 22 + 10*float64(len(loops)-1) + 4
	y = n.y + n.h/2
	if len(loops) > 1 {
		step := 0.0
		for _, e := range loops {
			step = max(step, l.edges[e].lh+2)
		}
		y += (float64(k) - float64(len(loops)-1)/2) * step
	}
	return right + l.edges[i].lw/2, y
}

// renderNode writes a node: its shape, text, tooltip and badge.
func (l *svgLayout) renderNode(w *svgWriter, v int, gn graphNode, o SVGOptions) {
	n := l.nodes[v]
	x, y, wd, h := n.x-n.w/2, n.y, n.w, n.h
	w.extend(x, y, x+wd, y+h)
	switch gn.role {
	case graphTrigger:
		w.str(`<g class="node trigger" data-node="`, gn.id, `"`)
		if gn.kind != "" {
			w.str(` data-kind="`, esc(gn.kind), `"`)
		}
		w.str(">")
	case graphExit:
		w.str(`<g class="node exit" data-node="`, gn.id, `">`)
	default:
		w.str(`<g class="node step" data-node="`, gn.id, `" data-step="`, gn.id, `" data-kind="`, esc(gn.kind), `">`)
	}
	w.str("<title>", esc(strings.Join(gn.lines, "\n")), "</title>")
	cx, cy := n.x, y+h/2
	switch shape := svgShape(gn); shape {
	case shapeRect, shapeRound, shapePill, shapeSub:
		rx := 4.0
		switch shape {
		case shapeRound:
			rx = 12
		case shapePill:
			rx = h / 2
		}
		w.str(`<rect class="shape" x="`, num(x), `" y="`, num(y), `" width="`, num(wd), `" height="`, num(h), `" rx="`, num(rx), `"/>`)
		if shape == shapeSub {
			w.str(`<path class="bar" d="M`, num(x+subBar), " ", num(y), "V", num(y+h), "M", num(x+wd-subBar), " ", num(y), "V", num(y+h), `"/>`)
		}
	default:
		var pts []svgPoint
		switch shape {
		case shapeHex:
			in := hexInset(h)
			pts = []svgPoint{{x + in, y}, {x + wd - in, y}, {x + wd, cy}, {x + wd - in, y + h}, {x + in, y + h}, {x, cy}}
		case shapePara:
			pts = []svgPoint{{x + paraSkew, y}, {x + wd, y}, {x + wd - paraSkew, y + h}, {x, y + h}}
		case shapeFlag:
			pts = []svgPoint{{x, y}, {x + wd, y}, {x + wd, y + h}, {x, y + h}, {x + flagCut, cy}}
			cx += flagCut / 2
		}
		w.str(`<polygon class="shape" points="`)
		for i, p := range pts {
			if i > 0 {
				w.str(" ")
			}
			w.str(num(p.x), ",", num(p.y))
		}
		w.str(`"/>`)
	}
	w.text(n.lines, cx, y+svgPadY, svgLineH)
	if gn.step != nil {
		if badge := strings.Join(strings.Fields(o.Badges[gn.step]), " "); badge != "" {
			badge = truncate(badge, svgBadgeChars)
			bw := max(textWidth(badge)*svgBadgeFont/svgFont+12, svgBadgeH)
			bx, by := x+wd+6-bw, y-svgBadgeH/2
			w.extend(bx, by, bx+bw, by+svgBadgeH)
			w.str(`<g class="badge"><rect x="`, num(bx), `" y="`, num(by), `" width="`, num(bw), `" height="`, num(svgBadgeH), `" rx="`, num(svgBadgeH/2), `"/>`)
			w.str(`<text x="`, num(bx+bw/2), `" y="`, num(by+13), `">`, esc(badge), "</text></g>")
		}
	}
	w.str("</g>\n")
}

// textWidth guesses how wide text is at 13px: as wide as DejaVu Sans
// (the usual sans-serif where system-ui is missing, and wider than most
// system fonts), so that text fits its box.
func textWidth(s string) float64 {
	w := 0.0
	for _, r := range s {
		w += runeWidth(r)
	}
	return w
}

// asciiWidth holds the widths of ' ' to '~' in tenths of a pixel.
var asciiWidth = [95]uint8{
	41, 52, 60, 109, 83, 124, 101, 36, 51, 51, 65, 109, 41, 47, 41, 44, //  !"#$%&'()*+,-./
	83, 83, 83, 83, 83, 83, 83, 83, 83, 83, 44, 44, 109, 109, 109, 69, // 0123456789:;<=>?
	130, 89, 89, 91, 100, 82, 75, 101, 98, 38, 38, 85, 72, 112, 97, 102, // @ABCDEFGHIJKLMNO
	78, 102, 90, 83, 79, 95, 89, 129, 89, 79, 89, 51, 44, 51, 109, 65, // PQRSTUVWXYZ[\\]^_
	65, 80, 83, 71, 83, 80, 46, 83, 82, 36, 36, 75, 36, 127, 82, 80, // `abcdefghijklmno
	83, 83, 53, 68, 51, 82, 77, 106, 77, 77, 68, 83, 44, 83, 109, // pqrstuvwxyz{|}~
}

func runeWidth(r rune) float64 {
	switch {
	case r >= ' ' && r <= '~':
		return float64(asciiWidth[r-' ']) / 10
	case r == 0x200b || r == 0x200c || r == 0x200d || r == 0x2060 || r == 0xfeff,
		r >= 0xfe00 && r <= 0xfe0f, r >= 0x1f3fb && r <= 0x1f3ff, r >= 0xe0000 && r <= 0xe007f,
		unicode.In(r, unicode.Mn, unicode.Me):
		return 0 // joiners, variation selectors, skin tones, combining marks
	case r >= 0x1100 && r <= 0x115f, r >= 0x2e80 && r <= 0xa4cf, r >= 0xac00 && r <= 0xd7a3,
		r >= 0xf900 && r <= 0xfaff, r >= 0xfe30 && r <= 0xfe4f, r >= 0xff00 && r <= 0xff60,
		r >= 0xffe0 && r <= 0xffe6, r >= 0x2600 && r <= 0x27bf, r >= 0x1f000 && r <= 0x1faff,
		r >= 0x20000 && r <= 0x3fffd, r == '…':
		return svgFont // CJK, full-width forms, emoji
	}
	return 9
}

// wrapText breaks text into lines no wider than max, at spaces when it
// can; past maxLines it cuts the last line and ends it with "…".
func wrapText(s string, maxW float64, maxLines int) []string {
	var lines []string
	var cur []rune
	w, brk := 0.0, -1 // brk: where cur may break, after a space
	for _, r := range s {
		rw := runeWidth(r)
		for r != ' ' && len(cur) > 0 && w+rw > maxW {
			if brk > 0 {
				lines = append(lines, strings.TrimRight(string(cur[:brk]), " "))
				cur = append([]rune(nil), cur[brk:]...)
			} else {
				lines = append(lines, string(cur))
				cur = nil
			}
			brk = -1
			w = textWidth(string(cur))
		}
		if r == ' ' && len(cur) == 0 && len(lines) > 0 {
			continue // no space at the start of a wrapped line
		}
		cur = append(cur, r)
		w += rw
		if r == ' ' {
			brk = len(cur)
		}
	}
	lines = append(lines, string(cur))
	if len(lines) > maxLines {
		lines = lines[:maxLines]
		last := []rune(lines[maxLines-1])
		for len(last) > 0 && textWidth(string(last))+runeWidth('…') > maxW {
			last = last[:len(last)-1]
		}
		lines[maxLines-1] = strings.TrimRight(string(last), " ") + "…"
	}
	return lines
}
