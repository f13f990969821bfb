using Diffusion.Export;
using Diffusion.Export.Emitters;
using Diffusion.Onnx;
using Diffusion.Onnx.Proto;
using Diffusion.Runtime;
using Diffusion.Train.Model;
using TorchSharp.Modules;
using static Diffusion.Onnx.OnnxHelper;

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
        AtomicFile.WriteAllBytes(Path.Combine(outDir, ModelFolder.UnetFile), Serialize(unet));
        AtomicFile.WriteAllBytes(Path.Combine(outDir, ModelFolder.GuidedFile), Serialize(guided));
        File.Copy(Path.Combine(modelDir, ModelFolder.CardJson), Path.Combine(outDir, ModelFolder.CardJson), overwrite: true);
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

    /// <inheritdoc/>
    protected override GraphValue[] Emit(EmitScope s, GroupNorm m, GraphValue[] inputs)
    {
        var g = s.Graph;
        var x = inputs[0];
        long groups = m.num_groups, c = x[1].Size, k = c / groups * x.Shape.Skip(2).Aggregate(1L, (p, d) => p * d.Size);
        var grouped = g.Reshape(x, 0, groups, -1);
        var normed = g.AddNode("LayerNormalization", [grouped, g.Constant(Enumerable.Repeat(1f, (int)k).ToArray(), k)],
            [(grouped.Type, grouped.Shape)], MakeAttribute("axis", -1L), MakeAttribute("epsilon", (float)m.eps))[0];
        var h = g.Reshape(normed, [0, .. x.Shape.Skip(1).Select(d => d.Size)]);
        long[] perChannel = [c, .. Enumerable.Repeat(1L, x.Rank - 2)];
        var w = s.Parameter("weight", perChannel);
        var b = s.Parameter("bias", perChannel);
        if (SplitAffineOf is not null && s.Path.EndsWith(SplitAffineOf, StringComparison.Ordinal)) return [h, w, b];
        return [g.Add(g.Mul(h, w), b)];
    }
}

/// <summary>
/// The residual block of <see cref="ResBlockEmitter"/> with norm2's affine folded into the scale-shift
/// (see <see cref="GraphVariant.LayerNormFolded"/>); norm2 must be emitted by a <see cref="LayerNormGroupNormEmitter"/>
/// that splits its affine.
/// </summary>
public sealed class FoldedResBlockEmitter : ModuleEmitter<ResBlock>
{
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
        var norm = s.Call("norm2", h);                                               // [normalized, w, b]
        if (norm.Length != 3) throw new InvalidOperationException($"{s.DisplayPath}.norm2: expected the split-affine GroupNorm emitter.");
        var onePlusScale = g.Add(parts[0], g.Scalar(1f));                            // [N, C, 1, 1]
        var a = g.Mul(norm[1], onePlusScale);                                        // w (1 + s)
        var b = g.Add(g.Mul(norm[2], onePlusScale), parts[1]);                       // b (1 + s) + shift
        h = g.Add(g.Mul(norm[0], a), b);
        h = s.Call1("conv2", s.Call1("dropout", g.Silu(h)));
        var skip = s.Has("skip") ? s.Call1("skip", x) : x;
        return [g.Add(skip, h)];
    }
}
