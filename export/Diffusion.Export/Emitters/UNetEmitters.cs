using Diffusion.Onnx;
using Diffusion.Train.Model;
using DataType = Diffusion.Onnx.Proto.TensorProto.Types.DataType;

namespace Diffusion.Export.Emitters;

// Emitters for the blocks of train/Diffusion.Train/Model/UNet.cs. Each mirrors its module's forward line by line,
// in the same op order, so the graph computes the same float32 operations as TorchSharp.

/// <summary>
/// The whole U-Net: emb = time_embed(sinusoidal(t)) + label_emb(y); conv_in; down levels (pushing skips); mid;
/// up levels (popping skips); conv_out(silu(norm_out(h))). Inputs x [N, C, H, W] float, t [N] int64, y [N] int64.
/// </summary>
public sealed class UNetEmitter : ModuleEmitter<UNet>
{
    /// <inheritdoc/>
    protected override int InputCount => 3;

    /// <inheritdoc/>
    protected override GraphValue[] Emit(EmitScope s, UNet m, GraphValue[] inputs)
    {
        var g = s.Graph;
        var (x, t, y) = (inputs[0], inputs[1], inputs[2]);
        var emb = g.Add(s.Call1("time_embed", TimestepEmbedding(g, t, m.Config.BaseChannels)), s.Call1("label_emb", y));
        var h = s.Call1("conv_in", x);
        var skips = s.Context.Skips;
        skips.Clear();
        skips.Add(h);
        for (int l = 0; l < s.Count("down"); l++) h = s.Call1($"down.{l}", h, emb);
        h = s.Call1("mid", h, emb);
        for (int l = 0; l < s.Count("up"); l++) h = s.Call1($"up.{l}", h, emb);
        if (skips.Count != 0) throw new InvalidOperationException($"{skips.Count} skip connections left unused after the up path.");
        return [s.Call1("conv_out", g.Silu(s.Call1("norm_out", h)))];
    }

    /// <summary>
    /// UNet.TimestepEmbedding in the graph: args = float(t)[:, None] * f[None, :] with the frequencies
    /// f_i = exp(-ln(10000) i / (dim/2)) baked as a [1, dim/2] constant (<see cref="UNet.TimestepFrequencies"/>,
    /// computed by TorchSharp so the float32 values are identical); output cat(cos(args), sin(args)) [N, dim].
    /// </summary>
    public static GraphValue TimestepEmbedding(GraphBuilder g, GraphValue t, int dim)
    {
        using var scope = g.PushScope("time_embedding");
        var freqs = UNet.TimestepFrequencies(dim);
        var args = g.Mul(g.Unsqueeze(g.Cast(t, DataType.Float), 1), g.Constant(freqs, 1, freqs.Length));
        return g.Concat(1, g.Cos(args), g.Sin(args));
    }
}

/// <summary>One down level: res blocks (each optionally followed by attention), pushing every output as a skip; then the stride-2 conv, also pushed.</summary>
public sealed class DownLevelEmitter : ModuleEmitter<DownLevel>
{
    /// <inheritdoc/>
    protected override int InputCount => 2;

    /// <inheritdoc/>
    protected override GraphValue[] Emit(EmitScope s, DownLevel m, GraphValue[] inputs)
    {
        var (h, emb) = (inputs[0], inputs[1]);
        bool attn = s.Count("attn") > 0;
        for (int b = 0; b < s.Count("res"); b++)
        {
            h = s.Call1($"res.{b}", h, emb);
            if (attn) h = s.Call1($"attn.{b}", h);
            s.Context.Skips.Add(h);
        }
        if (s.Has("downsample"))
        {
            h = s.Call1("downsample", h);
            s.Context.Skips.Add(h);
        }
        return [h];
    }
}

/// <summary>One up level: res blocks on Concat([h, skip], axis 1) with the last pushed skip first, optional attention, then the upsample.</summary>
public sealed class UpLevelEmitter : ModuleEmitter<UpLevel>
{
    /// <inheritdoc/>
    protected override int InputCount => 2;

    /// <inheritdoc/>
    protected override GraphValue[] Emit(EmitScope s, UpLevel m, GraphValue[] inputs)
    {
        var (h, emb) = (inputs[0], inputs[1]);
        var skips = s.Context.Skips;
        bool attn = s.Count("attn") > 0;
        for (int b = 0; b < s.Count("res"); b++)
        {
            var skip = skips[^1];
            skips.RemoveAt(skips.Count - 1);
            h = s.Call1($"res.{b}", s.Graph.Concat(1, h, skip), emb);
            if (attn) h = s.Call1($"attn.{b}", h);
        }
        if (s.Has("upsample")) h = s.Call1("upsample", h);
        return [h];
    }
}

/// <summary>Bottleneck: res1, optional attention, res2.</summary>
public sealed class MidBlockEmitter : ModuleEmitter<MidBlock>
{
    /// <inheritdoc/>
    protected override int InputCount => 2;

    /// <inheritdoc/>
    protected override GraphValue[] Emit(EmitScope s, MidBlock m, GraphValue[] inputs)
    {
        var (h, emb) = (inputs[0], inputs[1]);
        h = s.Call1("res1", h, emb);
        if (s.Has("attn")) h = s.Call1("attn", h);
        return [s.Call1("res2", h, emb)];
    }
}

/// <summary>
/// Residual block with scale-shift conditioning: h = conv1(silu(norm1(x))); [scale, shift] = split(emb_proj(silu(emb)), 2);
/// h = norm2(h) * (scale + 1) + shift; out = skip(x) + conv2(dropout(silu(h))).
/// </summary>
public sealed class ResBlockEmitter : ModuleEmitter<ResBlock>
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
        var parts = g.Split(ss, 1, [m.OutChannels, m.OutChannels]);                  // chunk(2, 1)
        h = g.Add(g.Mul(s.Call1("norm2", h), g.Add(parts[0], g.Scalar(1f))), parts[1]);
        h = s.Call1("conv2", s.Call1("dropout", g.Silu(h)));
        var skip = s.Has("skip") ? s.Call1("skip", x) : x;
        return [g.Add(skip, h)];
    }
}

/// <summary>
/// Multi-head self-attention over the H*W positions: [q; k; v] = qkv(norm(x)) reshaped [N, 3, heads, d, L];
/// w = softmax(q^T k / sqrt(d)); o = v w^T reshaped [N, C, H, W]; out = x + proj(o). MatMul / Softmax / MatMul.
/// </summary>
public sealed class AttentionBlockEmitter : ModuleEmitter<AttentionBlock>
{
    /// <inheritdoc/>
    protected override GraphValue[] Emit(EmitScope s, AttentionBlock m, GraphValue[] inputs)
    {
        var g = s.Graph;
        var x = inputs[0];
        long c = x[1].Size, hgt = x[2].Size, wid = x[3].Size, l = hgt * wid, heads = m.NumHeads, d = c / heads;
        var qkv = g.Reshape(s.Call1("qkv", s.Call1("norm", x)), 0, 3, heads, d, l);  // [N, 3, heads, d, L]
        GraphValue Part(long i) => g.Gather(qkv, g.Scalar(i), axis: 1);              // unbind(1)[i]: [N, heads, d, L]
        var q = Part(0);
        var k = Part(1);
        var scores = g.Mul(g.MatMul(g.Transpose(q, 0, 1, 3, 2), k), g.Scalar((float)(1.0 / Math.Sqrt(d)))); // [N, heads, L, L]
        var weights = g.Softmax(scores, -1);
        var v = Part(2);
        var o = g.Reshape(g.MatMul(v, g.Transpose(weights, 0, 1, 3, 2)), 0, c, hgt, wid);
        return [g.Add(x, s.Call1("proj", o))];
    }
}

/// <summary>Stride-2 3x3 convolution.</summary>
public sealed class DownsampleEmitter : ModuleEmitter<Downsample>
{
    /// <inheritdoc/>
    protected override GraphValue[] Emit(EmitScope s, Downsample m, GraphValue[] inputs) => [s.Call1("op", inputs[0])];
}

/// <summary>Nearest 2x (Resize, torch's floor index rule: exact pixel copies) then the 3x3 convolution.</summary>
public sealed class UpsampleEmitter : ModuleEmitter<Upsample>
{
    /// <inheritdoc/>
    protected override GraphValue[] Emit(EmitScope s, Upsample m, GraphValue[] inputs)
        => [s.Call1("conv", s.Graph.ResizeNearest(inputs[0], 1f, 1f, 2f, 2f))];
}
