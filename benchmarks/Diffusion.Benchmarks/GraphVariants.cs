using Diffusion.Export;
using Diffusion.Export.Emitters;
using Diffusion.Onnx;
using Diffusion.Onnx.Proto;
using Diffusion.Runtime;
using Diffusion.Train.Model;
using TorchSharp.Modules;
using static Diffusion.Onnx.OnnxHelper;
using DataType = Diffusion.Onnx.Proto.TensorProto.Types.DataType;
using Diffusion.Tools;

namespace Diffusion.Benchmarks;

/// <summary>Forms of the exported graph tried for speed; all compute the same function (parity checked at 1e-4).</summary>
public enum GraphVariant
{
    /// <summary>The exporter's default: GroupNorm as torch.onnx writes it (Reshape, InstanceNormalization, Reshape, Mul, Add).</summary>
    Baseline,
    /// <summary>
    /// GroupNorm with LayerNormalization (opset 17) over [N, G, C/G*H*W] instead of InstanceNormalization: the same
    /// per-group mean and biased variance, but ONNX Runtime's CPU LayerNormalization kernel runs rows in parallel
    /// while its InstanceNormalization kernel is a single-threaded loop.
    /// </summary>
    LayerNorm,
    /// <summary>
    /// <see cref="LayerNorm"/> plus, in every residual block, norm2's affine folded into the scale-shift:
    /// (n w + b)(1 + s) + m = n [w (1 + s)] + [b (1 + s) + m], with the bracketed [N, C, 1, 1] coefficients computed
    /// on the small tensors: two full-size passes instead of four.
    /// </summary>
    LayerNormFolded,
    /// <summary>
    /// GroupNorm from its moments: per (n, g) mean = ReduceMean(x) and E[x^2] = ReduceSumSquare(x) / K (two reads, in
    /// parallel kernels), var = E[x^2] - mean^2, then one per-(n, c) scale A = w rstd and shift B = b - mean A
    /// computed on [N, C, 1, 1], and y = x A + B: two full-size passes instead of InstanceNormalization's three plus the
    /// affine's two. norm2's affine and the scale-shift fold into A and B as in <see cref="LayerNormFolded"/>.
    /// </summary>
    Moments,
    /// <summary>
    /// <see cref="LayerNormFolded"/> with every per-channel affine applied by one BatchNormalization node (mean 0,
    /// variance 1, epsilon 0: y = x a + b in one pass instead of Mul then Add); the folded per-(n, c) coefficients
    /// of norm2 go through BatchNormalization on the [1, N*C, H, W] view.
    /// </summary>
    LayerNormBn,
    /// <summary>
    /// The exporter's InstanceNormalization GroupNorm with norm2's affine folded into the scale-shift as in
    /// <see cref="LayerNormFolded"/>: the fold without changing the normalisation kernel (which is fast on one thread,
    /// as data-parallel batches run it).
    /// </summary>
    Folded,
    /// <summary>
    /// Speed probe for int8 convolutions, not a usable model: every Conv as QuantizeLinear / DequantizeLinear around
    /// int8 per-channel weights, an int32 bias and a uint8 output (the QDQ form ONNX Runtime fuses into QLinearConv,
    /// AVX512-VNNI on this CPU). Activation scales are fixed ranges, not calibrated, so the outputs are wrong: it
    /// measures what int8 convolutions would cost, nothing about quality (no parity check).
    /// </summary>
    Int8SpeedProbe,
}

/// <summary>Exports the U-Net in each <see cref="GraphVariant"/> by swapping emitters (the exporter's registry is open for that).</summary>
public static class GraphVariants
{
    /// <summary>Export options of <paramref name="variant"/>.</summary>
    public static ExportOptions Options(GraphVariant variant) => variant switch
    {
        GraphVariant.Baseline => new ExportOptions(),
        GraphVariant.LayerNorm => new ExportOptions { Emitters = EmitterRegistry.CreateDefault().Add(new LayerNormGroupNormEmitter()) },
        GraphVariant.LayerNormFolded => new ExportOptions
        {
            Emitters = EmitterRegistry.CreateDefault().Add(new LayerNormGroupNormEmitter { SplitAffineOf = ".norm2" }).Add(new FoldedResBlockEmitter()),
        },
        GraphVariant.LayerNormBn => new ExportOptions
        {
            Emitters = EmitterRegistry.CreateDefault().Add(new LayerNormGroupNormEmitter { SplitAffineOf = ".norm2", AffineWithBatchNorm = true })
                .Add(new FoldedResBlockEmitter { AffineWithBatchNorm = true }),
        },
        GraphVariant.Folded => new ExportOptions
        {
            Emitters = EmitterRegistry.CreateDefault().Add(new LayerNormGroupNormEmitter { SplitAffineOf = ".norm2", WithInstanceNorm = true }).Add(new FoldedResBlockEmitter()),
        },
        GraphVariant.Int8SpeedProbe => new ExportOptions { Emitters = EmitterRegistry.CreateDefault().Add(new QdqConvProbeEmitter()) },
        GraphVariant.Moments => new ExportOptions
        {
            Emitters = EmitterRegistry.CreateDefault().Add(new MomentsGroupNormEmitter { SplitAffineOf = ".norm2" }).Add(new FoldedResBlockEmitter()),
        },
        _ => throw new ArgumentOutOfRangeException(nameof(variant)),
    };

    /// <summary>
    /// Writes unet.onnx and unet-guided.onnx of <paramref name="variant"/> for the weights in <paramref name="modelDir"/>
    /// (rebuilt in TorchSharp from its unet.onnx) to <paramref name="outDir"/>, with the same metadata.
    /// </summary>
    public static void Export(string modelDir, GraphVariant variant, string outDir)
    {
        using var model = BenchModel.LoadTorch(modelDir);
        var meta = BenchModel.Metadata(modelDir);
        var (unet, guided) = UNetExporter.BuildBoth(model, meta, Options(variant));
        Directory.CreateDirectory(outDir);
        AtomicFile.WriteAllBytes(Path.Combine(outDir, ModelFolderLayout.Unet), Serialize(unet));
        AtomicFile.WriteAllBytes(Path.Combine(outDir, ModelFolderLayout.Guided), Serialize(guided));
        File.Copy(Path.Combine(modelDir, ModelFolderLayout.CardJson), Path.Combine(outDir, ModelFolderLayout.CardJson), overwrite: true);
    }
}

/// <summary>
/// GroupNorm through LayerNormalization: Reshape [N, C, H, W] to [N, G, K] (K = C/G*H*W), LayerNormalization on
/// the last axis with unit scale and no bias, Reshape back, then Mul by the weight and Add the bias ([C, 1, 1]).
/// For modules whose path ends with <see cref="SplitAffineOf"/> it returns [normalized, weight, bias] instead, so
/// the parent can fold the affine into what follows.
/// </summary>
public sealed class LayerNormGroupNormEmitter : ModuleEmitter<GroupNorm>
{
    /// <summary>Path suffix of GroupNorms whose affine the parent applies (null: none).</summary>
    public string? SplitAffineOf { get; init; }

    /// <summary>Apply the per-channel affine with one BatchNormalization node instead of Mul and Add.</summary>
    public bool AffineWithBatchNorm { get; init; }

    /// <summary>Normalise with InstanceNormalization over [N, G, K] (the exporter's kernel) instead of LayerNormalization.</summary>
    public bool WithInstanceNorm { get; init; }

    /// <inheritdoc/>
    protected override GraphValue[] Emit(EmitScope s, GroupNorm m, GraphValue[] inputs)
    {
        var g = s.Graph;
        var x = inputs[0];
        long groups = m.num_groups, c = x[1].Size, k = c / groups * x.Shape.Skip(2).Aggregate(1L, (p, d) => p * d.Size);
        if (AffineWithBatchNorm && !(SplitAffineOf is not null && s.Path.EndsWith(SplitAffineOf, StringComparison.Ordinal)))
        {
            var n = Normalize(g, x, groups, k, (float)m.eps, WithInstanceNorm);
            var wc = s.Parameter("weight");
            var bc = s.Parameter("bias");
            return [Affine.BatchNorm(g, n, wc, bc, g.Constant(new float[c], c), g.Constant(Enumerable.Repeat(1f, (int)c).ToArray(), c))];
        }
        var h = Normalize(g, x, groups, k, (float)m.eps, WithInstanceNorm);
        long[] perChannel = [c, .. Enumerable.Repeat(1L, x.Rank - 2)];
        var w = s.Parameter("weight", perChannel);
        var b = s.Parameter("bias", perChannel);
        if (SplitAffineOf is not null && s.Path.EndsWith(SplitAffineOf, StringComparison.Ordinal)) return [h, w, b];
        return [g.Add(g.Mul(h, w), b)];
    }

    // Reshape [N, C, ...] to [N, G, K], LayerNormalization over K (unit scale; ONNX Runtime 1.31 crashes on an
    // explicit empty bias input, so none is given), Reshape back.
    private static GraphValue Normalize(GraphBuilder g, GraphValue x, long groups, long k, float eps, bool instanceNorm)
    {
        var grouped = g.Reshape(x, 0, groups, -1);
        var normed = instanceNorm
            ? g.InstanceNormalization(grouped, g.Constant(Enumerable.Repeat(1f, (int)groups).ToArray(), groups), g.Constant(new float[groups], groups), eps)
            : g.AddNode("LayerNormalization", [grouped, g.Constant(Enumerable.Repeat(1f, (int)k).ToArray(), k)],
            [(grouped.Type, grouped.Shape)], MakeAttribute("axis", -1L), MakeAttribute("epsilon", eps))[0];
        return g.Reshape(normed, [0, .. x.Shape.Skip(1).Select(d => d.Size)]);
    }
}

/// <summary>y = x a + b per channel in one pass, as BatchNormalization in inference mode with mean 0, variance 1, epsilon 0.</summary>
public static class Affine
{
    /// <summary>BatchNormalization(x, scale, bias, mean, var) with epsilon 0: (x - mean) / sqrt(var) * scale + bias.</summary>
    public static GraphValue BatchNorm(GraphBuilder g, GraphValue x, GraphValue scale, GraphValue bias, GraphValue mean, GraphValue var)
        => g.AddNode("BatchNormalization", [x, scale, bias, mean, var], [(x.Type, x.Shape)], MakeAttribute("epsilon", 0f))[0];

    /// <summary>
    /// y = x a + b with a, b per (n, c) ([N, C, 1, 1]): BatchNormalization on the [1, N*C, H, W] view of x, its
    /// per-channel inputs the flattened a and b (mean a - a = 0, variance 1).
    /// </summary>
    public static GraphValue PerSample(GraphBuilder g, GraphValue x, GraphValue a, GraphValue b)
    {
        var view = g.Reshape(x, 1, -1, x[2].Size, x[3].Size);                        // [1, N*C, H, W]
        var af = g.Reshape(a, -1);
        var bf = g.Reshape(b, -1);
        var zero = g.Sub(af, af);
        var y = BatchNorm(g, view, af, bf, zero, g.Add(zero, g.Scalar(1f)));
        return g.Reshape(y, [-1, .. x.Shape.Skip(1).Select(d => d.Size)]);               // [N, C, H, W]
    }
}

/// <summary>
/// GroupNorm from per-group moments (see <see cref="GraphVariant.Moments"/>): y = x A + B with A = w / sqrt(var + eps)
/// and B = b - mean A per (n, c). For modules whose path ends with <see cref="SplitAffineOf"/> it returns [x, A, B]
/// (y = x A + B left to the parent) instead of y.
/// </summary>
public sealed class MomentsGroupNormEmitter : ModuleEmitter<GroupNorm>
{
    /// <summary>Path suffix of GroupNorms whose final x A + B the parent applies (null: none).</summary>
    public string? SplitAffineOf { get; init; }

    /// <inheritdoc/>
    protected override GraphValue[] Emit(EmitScope s, GroupNorm m, GraphValue[] inputs)
    {
        var g = s.Graph;
        var x = inputs[0];
        if (x.Rank != 4) throw new UnsupportedModuleException(s.DisplayPath, $"the moments GroupNorm form needs [N, C, H, W], got {x}");
        long groups = m.num_groups, c = x[1].Size, perGroup = c / groups, k = perGroup * x[2].Size * x[3].Size;
        var grouped = g.Reshape(x, 0, groups, -1);                                                   // [N, G, K]
        Dim[] stat = [grouped[0], groups, 1];
        var axes = MakeAttribute("axes", new long[] { 2 });
        var keep = MakeAttribute("keepdims", 1L);
        var mean = g.AddNode("ReduceMean", [grouped], [(grouped.Type, stat)], axes, keep)[0];
        var sumSq = g.AddNode("ReduceSumSquare", [grouped], [(grouped.Type, stat)], axes, keep)[0];
        var variance = g.Sub(g.Mul(sumSq, g.Scalar(1f / k)), g.Mul(mean, mean));                    // E[x^2] - mean^2
        var std = g.AddNode("Sqrt", [g.Add(variance, g.Scalar((float)m.eps))], [(grouped.Type, stat)])[0];
        var w = s.Parameter("weight", groups, perGroup);                                             // [G, C/G]
        var b = s.Parameter("bias", groups, perGroup);
        var a = g.Div(w, std);                                                                       // [N, G, C/G]
        var shift = g.Sub(b, g.Mul(mean, a));
        var aC = g.Reshape(a, 0, c, 1, 1);                                                           // [N, C, 1, 1]
        var shiftC = g.Reshape(shift, 0, c, 1, 1);
        if (SplitAffineOf is not null && s.Path.EndsWith(SplitAffineOf, StringComparison.Ordinal)) return [x, aC, shiftC];
        return [g.Add(g.Mul(x, aC), shiftC)];
    }
}

/// <summary>
/// The residual block of <see cref="ResBlockEmitter"/> with norm2's affine folded into the scale-shift
/// (see <see cref="GraphVariant.LayerNormFolded"/>); norm2 must be emitted by a GroupNorm emitter that returns
/// [u, a, b] with norm2(h) = u a + b (<see cref="LayerNormGroupNormEmitter"/> or <see cref="MomentsGroupNormEmitter"/>
/// with SplitAffineOf = ".norm2").
/// </summary>
public sealed class FoldedResBlockEmitter : ModuleEmitter<ResBlock>
{
    /// <summary>Apply the folded per-(n, c) affine with one BatchNormalization node (<see cref="Affine.PerSample"/>).</summary>
    public bool AffineWithBatchNorm { get; init; }

    /// <inheritdoc/>
    protected override int InputCount => 2;

    /// <inheritdoc/>
    protected override GraphValue[] Emit(EmitScope s, ResBlock m, GraphValue[] inputs)
    {
        var g = s.Graph;
        var (x, emb) = (inputs[0], inputs[1]);
        var h = s.Call1("conv1", g.Silu(s.Call1("norm1", x)));
        var embSilu = s.Context.Memo($"silu({emb.Name})", () => g.Silu(emb));
        var ss = g.Unsqueeze(s.Call1("emb_proj", embSilu), 2, 3);                    // [N, 2C, 1, 1]
        var parts = g.Split(ss, 1, [m.OutChannels, m.OutChannels]);
        var norm = s.Call("norm2", h);                                               // norm2(h) = u a + b
        if (norm.Length != 3) throw new InvalidOperationException($"{s.DisplayPath}.norm2: expected a split-affine GroupNorm emitter.");
        var onePlusScale = g.Add(parts[0], g.Scalar(1f));                            // [N, C, 1, 1]
        var a = g.Mul(norm[1], onePlusScale);                                        // a (1 + s)
        var b = g.Add(g.Mul(norm[2], onePlusScale), parts[1]);                       // b (1 + s) + shift
        h = AffineWithBatchNorm ? Affine.PerSample(g, norm[0], a, b) : g.Add(g.Mul(norm[0], a), b);
        h = s.Call1("conv2", s.Call1("dropout", g.Silu(h)));
        var skip = s.Has("skip") ? s.Call1("skip", x) : x;
        return [g.Add(skip, h)];
    }
}

/// <summary>
/// Conv2d as the QDQ pattern of an int8 convolution (see <see cref="GraphVariant.Int8SpeedProbe"/>): x is quantized
/// to uint8 with a fixed range, the weights per output channel to int8 (scale = max |w| / 127), the bias to int32 at
/// scale s_x s_w, and the output to uint8 with a fixed range. For timing only.
/// </summary>
public sealed class QdqConvProbeEmitter : ModuleEmitter<Conv2d>
{
    private const float InputRange = 8f, OutputRange = 16f;

    /// <inheritdoc/>
    protected override GraphValue[] Emit(EmitScope s, Conv2d m, GraphValue[] inputs)
    {
        var g = s.Graph;
        var x = inputs[0];
        var wValue = s.Parameter("weight");
        float[] w = g.InitializerData(wValue);
        long[] wDims = [.. wValue.Shape.Select(d => d.Size)];
        int cout = (int)wDims[0];
        var bValue = s.HasParameter("bias") ? s.Parameter("bias") : null;
        float[] b = bValue is null ? new float[cout] : g.InitializerData(bValue);

        float sx = 2 * InputRange / 255f, sy = 2 * OutputRange / 255f;
        var (wq, sw, bq, sb) = Diffusion.Export.Int8Quantizer.QuantizeWeights(w, b, sx);
        string name = s.Path.Length == 0 ? "conv" : s.Path;
        var wqV = g.Initializer(MakeRawTensor($"{name}.weight_q", DataType.Int8, System.Runtime.InteropServices.MemoryMarshal.AsBytes(wq.AsSpan()), wq.Length, wDims));
        var wzV = g.Initializer(MakeRawTensor($"{name}.weight_zp", DataType.Int8, new byte[cout], cout, cout));
        var bqV = g.Initializer(MakeRawTensor($"{name}.bias_q", DataType.Int32, System.Runtime.InteropServices.MemoryMarshal.AsBytes(bq.AsSpan()), cout, cout));
        var bzV = g.Initializer(MakeRawTensor($"{name}.bias_zp", DataType.Int32, new byte[4 * cout], cout, cout));
        var swV = g.Initializer($"{name}.weight_scale", sw, cout);
        var sbV = g.Initializer($"{name}.bias_scale", sb, cout);
        var sxV = g.Initializer($"{name}.x_scale", new[] { sx });
        var syV = g.Initializer($"{name}.y_scale", new[] { sy });
        var zV = g.Initializer(MakeRawTensor($"{name}.zp", DataType.Uint8, new byte[] { 128 }, 1));
        var axis0 = MakeAttribute("axis", 0L);

        var xq = g.AddNode("QuantizeLinear", [x, sxV, zV], [(DataType.Uint8, x.Shape)])[0];
        var xd = g.AddNode("DequantizeLinear", [xq, sxV, zV], [(DataType.Float, x.Shape)])[0];
        var wd = g.AddNode("DequantizeLinear", [wqV, swV, wzV], [(DataType.Float, wValue.Shape)], axis0)[0];
        var bd = g.AddNode("DequantizeLinear", [bqV, sbV, bzV], [(DataType.Float, new Dim[] { cout })], axis0)[0];
        long[] pad = m.padding ?? [0, 0];
        var y = g.Conv(xd, wd, bd, m.stride, [pad[0], pad[1], pad[0], pad[1]], m.dilation, m.groups);
        var yq = g.AddNode("QuantizeLinear", [y, syV, zV], [(DataType.Uint8, y.Shape)])[0];
        return [g.AddNode("DequantizeLinear", [yq, syV, zV], [(DataType.Float, y.Shape)])[0]];
    }
}
