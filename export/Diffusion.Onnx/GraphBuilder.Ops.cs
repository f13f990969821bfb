using Diffusion.Onnx.Proto;
using static Diffusion.Onnx.OnnxHelper;
using DataType = Diffusion.Onnx.Proto.TensorProto.Types.DataType;

namespace Diffusion.Onnx;

/// <summary>Typed operators: each adds one node (SiLU adds two) and computes its output's type and shape.</summary>
public sealed partial class GraphBuilder
{
    private GraphValue One(string op, IReadOnlyList<GraphValue?> ins, DataType type, IReadOnlyList<Dim> shape, params AttributeProto[] attrs)
        => AddNode(op, ins, [(type, shape)], attrs)[0];

    private static int Axis(int axis, int rank, string op)
    {
        int a = axis < 0 ? axis + rank : axis;
        if (a < 0 || a >= rank) throw new ArgumentOutOfRangeException(nameof(axis), $"{op}: axis {axis} is outside rank {rank}.");
        return a;
    }

    private static void SameType(string op, GraphValue a, GraphValue b)
    {
        if (a.Type != b.Type) throw new ArgumentException($"{op}: element types differ ({a}, {b}).");
    }

    /// <summary>Numpy-style broadcast of two shapes (ONNX multidirectional broadcasting).</summary>
    public static Dim[] Broadcast(IReadOnlyList<Dim> a, IReadOnlyList<Dim> b)
    {
        int rank = Math.Max(a.Count, b.Count);
        var r = new Dim[rank];
        for (int i = 0; i < rank; i++)
        {
            Dim x = i - (rank - a.Count) >= 0 ? a[i - (rank - a.Count)] : Dim.Of(1);
            Dim y = i - (rank - b.Count) >= 0 ? b[i - (rank - b.Count)] : Dim.Of(1);
            if (x == y) r[i] = x;
            else if (x.IsFixed && x.Size == 1) r[i] = y;
            else if (y.IsFixed && y.Size == 1) r[i] = x;
            else if (x.IsFixed && y.IsFixed) throw new ArgumentException($"Shapes [{string.Join(",", a)}] and [{string.Join(",", b)}] do not broadcast.");
            else r[i] = x.IsFixed ? x : y.IsFixed ? y : Dim.Unknown;
        }
        return r;
    }

    private GraphValue Binary(string op, GraphValue a, GraphValue b)
    {
        SameType(op, a, b);
        return One(op, [a, b], a.Type, Broadcast(a.Shape, b.Shape));
    }

    /// <summary>a + b (broadcasting).</summary>
    public GraphValue Add(GraphValue a, GraphValue b) => Binary("Add", a, b);
    /// <summary>a - b (broadcasting).</summary>
    public GraphValue Sub(GraphValue a, GraphValue b) => Binary("Sub", a, b);
    /// <summary>a * b (broadcasting).</summary>
    public GraphValue Mul(GraphValue a, GraphValue b) => Binary("Mul", a, b);
    /// <summary>a / b (broadcasting).</summary>
    public GraphValue Div(GraphValue a, GraphValue b) => Binary("Div", a, b);

    private GraphValue Unary(string op, GraphValue x) => One(op, [x], x.Type, x.Shape);

    /// <summary>1 / (1 + exp(-x)).</summary>
    public GraphValue Sigmoid(GraphValue x) => Unary("Sigmoid", x);
    /// <summary>cos(x).</summary>
    public GraphValue Cos(GraphValue x) => Unary("Cos", x);
    /// <summary>sin(x).</summary>
    public GraphValue Sin(GraphValue x) => Unary("Sin", x);
    /// <summary>max(x, 0).</summary>
    public GraphValue Relu(GraphValue x) => Unary("Relu", x);
    /// <summary>A copy of x.</summary>
    public GraphValue Identity(GraphValue x) => Unary("Identity", x);

    /// <summary>SiLU (swish) as x * Sigmoid(x): opsets before 24 have no single operator for it.</summary>
    public GraphValue Silu(GraphValue x) => Mul(x, Sigmoid(x));

    /// <summary>Converts the element type.</summary>
    public GraphValue Cast(GraphValue x, DataType to) => One("Cast", [x], to, x.Shape, MakeAttribute("to", (long)to));

    /// <summary>Inserts size-1 axes (axes are an int64 input since opset 13).</summary>
    public GraphValue Unsqueeze(GraphValue x, params long[] axes)
    {
        int rank = x.Rank + axes.Length;
        var norm = axes.Select(a => (int)(a < 0 ? a + rank : a)).Order().ToArray();
        var shape = new List<Dim>(x.Shape);
        foreach (int a in norm) shape.Insert(a, Dim.Of(1));
        return One("Unsqueeze", [x, Constant(axes, axes.Length)], x.Type, shape);
    }

    /// <summary>
    /// Reshape to a constant shape: 0 copies the input dimension (allowzero = 0), -1 takes what is left.
    /// The output shape follows symbolic dimensions through: [2*batch, 64, 14, 14] to [0, 8, -1] gives [2*batch, 8, 1568].
    /// </summary>
    public GraphValue Reshape(GraphValue x, params long[] shape)
    {
        var outDims = new Dim[shape.Length];
        int infer = -1;
        for (int i = 0; i < shape.Length; i++)
        {
            if (shape[i] == 0) outDims[i] = i < x.Rank ? x.Shape[i] : throw new ArgumentException($"Reshape: 0 at axis {i} but input {x} has rank {x.Rank}.");
            else if (shape[i] == -1)
            {
                if (infer >= 0) throw new ArgumentException("Reshape: more than one -1.");
                infer = i;
            }
            else if (shape[i] > 0) outDims[i] = Dim.Of(shape[i]);
            else throw new ArgumentException($"Reshape: invalid size {shape[i]}.");
        }
        Dim total = x.Shape.Aggregate(Dim.Of(1), (p, d) => p * d);
        Dim known = outDims.Where((_, i) => i != infer).Aggregate(Dim.Of(1), (p, d) => p * d);
        if (infer >= 0) outDims[infer] = total / known;
        else if (total.IsKnown && known.IsKnown && total != known)
            throw new ArgumentException($"Reshape: {x} cannot become [{string.Join(",", shape)}].");
        return One("Reshape", [x, Constant(shape, shape.Length)], x.Type, outDims);
    }

    /// <summary>Permutes axes: output axis i is input axis perm[i].</summary>
    public GraphValue Transpose(GraphValue x, params long[] perm)
    {
        if (perm.Length != x.Rank) throw new ArgumentException($"Transpose: perm has {perm.Length} axes, input {x} has rank {x.Rank}.");
        return One("Transpose", [x], x.Type, perm.Select(p => x.Shape[(int)p]).ToArray(), MakeAttribute("perm", perm));
    }

    /// <summary>Batched matrix product [..., M, K] x [..., K, N] to [..., M, N] (rank 2 or more).</summary>
    public GraphValue MatMul(GraphValue a, GraphValue b)
    {
        SameType("MatMul", a, b);
        if (a.Rank < 2 || b.Rank < 2) throw new ArgumentException($"MatMul: inputs need rank >= 2 ({a}, {b}).");
        if (a[-1].IsFixed && b[-2].IsFixed && a[-1] != b[-2]) throw new ArgumentException($"MatMul: inner dimensions differ ({a}, {b}).");
        var batch = Broadcast(a.Shape.Take(a.Rank - 2).ToArray(), b.Shape.Take(b.Rank - 2).ToArray());
        return One("MatMul", [a, b], a.Type, [.. batch, a[-2], b[-1]]);
    }

    /// <summary>General matrix product alpha * A' B' + beta * C with A' = transA ? A^T : A (rank-2 inputs).</summary>
    public GraphValue Gemm(GraphValue a, GraphValue b, GraphValue? c, bool transA = false, bool transB = false)
    {
        SameType("Gemm", a, b);
        if (a.Rank != 2 || b.Rank != 2) throw new ArgumentException($"Gemm: inputs need rank 2 ({a}, {b}).");
        Dim m = transA ? a[1] : a[0], ka = transA ? a[0] : a[1], kb = transB ? b[1] : b[0], n = transB ? b[0] : b[1];
        if (ka.IsFixed && kb.IsFixed && ka != kb) throw new ArgumentException($"Gemm: inner dimensions differ ({a}, {b}).");
        var attrs = new List<AttributeProto>();
        if (transA) attrs.Add(MakeAttribute("transA", 1L));
        if (transB) attrs.Add(MakeAttribute("transB", 1L));
        return One("Gemm", c is null ? [a, b] : [a, b, c], a.Type, [m, n], [.. attrs]);
    }

    /// <summary>
    /// 2-D convolution of x [N, Cin, H, W] with w [Cout, Cin/group, kH, kW] and optional bias [Cout];
    /// pads are [top, left, bottom, right]. Output [N, Cout, (H + pt + pb - d(kH-1) - 1)/s + 1, ...].
    /// </summary>
    public GraphValue Conv(GraphValue x, GraphValue w, GraphValue? bias, long[] strides, long[] pads, long[] dilations, long group = 1)
    {
        SameType("Conv", x, w);
        if (x.Rank != 4 || w.Rank != 4) throw new ArgumentException($"Conv: expected rank-4 input and weight ({x}, {w}).");
        if (x[1].IsFixed && w[1].IsFixed && x[1].Size != w[1].Size * group)
            throw new ArgumentException($"Conv: input {x} has {x[1]} channels, weight {w} with group {group} expects {w[1].Size * group}.");
        long[] kernel = [w[2].Size, w[3].Size];
        Dim Spatial(int i)
        {
            var d = x[2 + i];
            return d.IsFixed ? Dim.Of((d.Size + pads[i] + pads[i + 2] - dilations[i] * (kernel[i] - 1) - 1) / strides[i] + 1) : Dim.Unknown;
        }
        return One("Conv", bias is null ? [x, w] : [x, w, bias], x.Type, [x[0], w[0], Spatial(0), Spatial(1)],
            MakeAttribute("dilations", dilations), MakeAttribute("group", group), MakeAttribute("kernel_shape", kernel),
            MakeAttribute("pads", pads), MakeAttribute("strides", strides));
    }

    /// <summary>2-D max pooling of x [N, C, H, W]; pads are [top, left, bottom, right].</summary>
    public GraphValue MaxPool(GraphValue x, long[] kernel, long[] strides, long[] pads)
    {
        if (x.Rank != 4) throw new ArgumentException($"MaxPool: expected a rank-4 input ({x}).");
        Dim Spatial(int i) => x[2 + i].IsFixed ? Dim.Of((x[2 + i].Size + pads[i] + pads[i + 2] - kernel[i]) / strides[i] + 1) : Dim.Unknown;
        return One("MaxPool", [x], x.Type, [x[0], x[1], Spatial(0), Spatial(1)],
            MakeAttribute("kernel_shape", kernel), MakeAttribute("pads", pads), MakeAttribute("strides", strides));
    }

    /// <summary>Flattens to rank 2: [d0 * .. * d(axis-1), d(axis) * .. * d(n-1)].</summary>
    public GraphValue Flatten(GraphValue x, int axis = 1)
    {
        Dim Prod(IEnumerable<Dim> ds) => ds.Aggregate(Dim.Of(1), (p, d) => p * d);
        return One("Flatten", [x], x.Type, [Prod(x.Shape.Take(axis)), Prod(x.Shape.Skip(axis))], MakeAttribute("axis", (long)axis));
    }

    /// <summary>Softmax along <paramref name="axis"/> (opset 13+: that axis only).</summary>
    public GraphValue Softmax(GraphValue x, int axis = -1) => One("Softmax", [x], x.Type, x.Shape, MakeAttribute("axis", (long)axis));

    /// <summary>Rows of <paramref name="data"/> picked by <paramref name="indices"/> along <paramref name="axis"/> (Embedding lookup).</summary>
    public GraphValue Gather(GraphValue data, GraphValue indices, int axis = 0)
    {
        int a = Axis(axis, data.Rank, "Gather");
        Dim[] shape = [.. data.Shape.Take(a), .. indices.Shape, .. data.Shape.Skip(a + 1)];
        return One("Gather", [data, indices], data.Type, shape, MakeAttribute("axis", (long)axis));
    }

    /// <summary>Concatenates along <paramref name="axis"/>; a symbolic axis adds up (batch + batch = 2*batch).</summary>
    public GraphValue Concat(int axis, params GraphValue[] values)
    {
        if (values.Length == 0) throw new ArgumentException("Concat: no inputs.");
        int a = Axis(axis, values[0].Rank, "Concat");
        var shape = values[0].Shape.ToArray();
        foreach (var v in values.Skip(1))
        {
            SameType("Concat", values[0], v);
            shape[a] += v.Shape[a];
        }
        return One("Concat", values, values[0].Type, shape, MakeAttribute("axis", (long)axis));
    }

    /// <summary>
    /// Splits into <paramref name="parts"/> equal pieces along <paramref name="axis"/> (works for a symbolic
    /// dimension such as 2*batch). Opset 18+ writes the required num_outputs attribute.
    /// </summary>
    public GraphValue[] Split(GraphValue x, int axis, int parts)
    {
        int a = Axis(axis, x.Rank, "Split");
        Dim piece = x.Shape[a] / Dim.Of(parts);
        var shape = x.Shape.ToArray();
        shape[a] = piece;
        var outs = Enumerable.Repeat(((DataType, IReadOnlyList<Dim>))(x.Type, shape), parts).ToArray();
        return Opset >= 18
            ? AddNode("Split", [x], outs, MakeAttribute("axis", (long)axis), MakeAttribute("num_outputs", (long)parts))
            : AddNode("Split", [x], outs, MakeAttribute("axis", (long)axis));
    }

    /// <summary>Splits along <paramref name="axis"/> into pieces of the given sizes (sizes as an int64 input).</summary>
    public GraphValue[] Split(GraphValue x, int axis, long[] sizes)
    {
        int a = Axis(axis, x.Rank, "Split");
        if (x.Shape[a].IsFixed && sizes.Sum() != x.Shape[a].Size) throw new ArgumentException($"Split: sizes [{string.Join(",", sizes)}] do not add up to {x.Shape[a]} ({x}).");
        var outs = sizes.Select(s => ((DataType, IReadOnlyList<Dim>))(x.Type, x.Shape.Select((d, i) => i == a ? Dim.Of(s) : d).ToArray())).ToArray();
        return AddNode("Split", [x, Constant(sizes, sizes.Length)], outs, MakeAttribute("axis", (long)axis));
    }

    /// <summary>
    /// Nearest-neighbour resize by integer-valued <paramref name="scales"/> with torch's index rule
    /// src = floor(dst / scale) (coordinate_transformation_mode asymmetric, nearest_mode floor).
    /// </summary>
    public GraphValue ResizeNearest(GraphValue x, params float[] scales)
    {
        if (scales.Length != x.Rank) throw new ArgumentException($"Resize: {scales.Length} scales for {x}.");
        var shape = x.Shape.Select((d, i) => scales[i] == 1f ? d : d.IsFixed ? Dim.Of((long)Math.Floor(d.Size * (double)scales[i])) : Dim.Unknown).ToArray();
        return One("Resize", [x, null, Constant(scales, scales.Length)], x.Type, shape,
            MakeAttribute("coordinate_transformation_mode", "asymmetric"), MakeAttribute("mode", "nearest"), MakeAttribute("nearest_mode", "floor"));
    }

    /// <summary>Instance normalization of x [N, C, ...] over the trailing axes, then * scale[C] + bias[C].</summary>
    public GraphValue InstanceNormalization(GraphValue x, GraphValue scale, GraphValue bias, float epsilon)
        => One("InstanceNormalization", [x, scale, bias], x.Type, x.Shape, MakeAttribute("epsilon", epsilon));

    /// <summary>The shape of x as an int64 [rank] tensor.</summary>
    public GraphValue Shape(GraphValue x) => One("Shape", [x], DataType.Int64, [Dim.Of(x.Rank)]);

    /// <summary>A tensor of shape <paramref name="shape"/> (an int64 value) filled with <paramref name="value"/>; <paramref name="knownShape"/> is its shape for value_info.</summary>
    public GraphValue ConstantOfShape(GraphValue shape, long value, IReadOnlyList<Dim> knownShape)
        => One("ConstantOfShape", [shape], DataType.Int64, knownShape, MakeAttribute("value", MakeTensor("value", [value], 1)));
}
