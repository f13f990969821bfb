using Diffusion.Onnx.Proto;

namespace Diffusion.Onnx;

/// <summary>Floating-point operations of a graph per image, by operator type.</summary>
/// <param name="Total">Sum over all counted nodes.</param>
/// <param name="ByOpType">Conv, MatMul, Gemm totals.</param>
public sealed record FlopCount(long Total, IReadOnlyDictionary<string, long> ByOpType);

/// <summary>
/// Counts the multiply-accumulates of convolutions and matrix products in a model (2 FLOPs per MAC), per unit of
/// the symbolic batch dimension: a value of shape [2*batch, ...] counts twice, so the guided graph, which runs the
/// U-Net on the doubled batch, reports twice the plain graph. Reads shapes from the graph's inputs, outputs,
/// value_info and initializers (the builder writes them all); element-wise operators are not counted.
/// </summary>
public static class FlopCounter
{
    /// <summary>FLOPs per image of <paramref name="model"/>.</summary>
    /// <exception cref="InvalidOperationException">A counted node's shapes are not recorded in the model.</exception>
    public static FlopCount Count(ModelProto model)
    {
        var g = model.Graph;
        var shapes = new Dictionary<string, Dim[]>(StringComparer.Ordinal);
        foreach (var v in g.Input.Concat(g.Output).Concat(g.ValueInfo)) shapes[v.Name] = OnnxHelper.ShapeOf(v);
        foreach (var t in g.Initializer) shapes[t.Name] = t.Dims.Select(Dim.Of).ToArray();

        Dim[] Shape(NodeProto n, string name) => shapes.TryGetValue(name, out var s)
            ? s : throw new InvalidOperationException($"{n.Name} ({n.OpType}): no shape recorded for '{name}'.");
        long PerImage(NodeProto n, IEnumerable<Dim> dims) => dims.Aggregate(1L, (p, d) => d.IsKnown
            ? p * d.Coefficient : throw new InvalidOperationException($"{n.Name} ({n.OpType}): unknown dimension in its output shape."));

        var byOp = new SortedDictionary<string, long>(StringComparer.Ordinal);
        foreach (var n in g.Node)
        {
            long flops = n.OpType switch
            {
                // out [N, Co, Ho, Wo], weight [Co, Cin/group, kH, kW]: each output element is Cin/group*kH*kW MACs.
                "Conv" => 2 * PerImage(n, Shape(n, n.Output[0])) * Shape(n, n.Input[1]).Skip(1).Aggregate(1L, (p, d) => p * d.Size),
                // out [..., M, N], each element a K-long dot product.
                "MatMul" => 2 * PerImage(n, Shape(n, n.Output[0])) * Shape(n, n.Input[0])[^1].Size,
                "Gemm" => 2 * PerImage(n, Shape(n, n.Output[0]))
                    * Shape(n, n.Input[0])[n.Attribute.Any(a => a.Name == "transA" && a.I == 1) ? 0 : 1].Size,
                _ => 0,
            };
            if (flops > 0) byOp[n.OpType] = byOp.GetValueOrDefault(n.OpType) + flops;
        }
        return new FlopCount(byOp.Values.Sum(), byOp);
    }
}
