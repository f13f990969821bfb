using Diffusion.Onnx;
using Diffusion.Onnx.Torch;
using DataType = Diffusion.Onnx.Proto.TensorProto.Types.DataType;

namespace Diffusion.Train.Model;

// The ONNX form of each block of UNet.cs, beside it: every EmitOnnx mirrors its block's forward line by line, in the
// same op order and on the same fields, so the graph computes the same float32 operations as TorchSharp. The
// structure (levels, blocks, attention, widths, skip order) is decided once, in the constructors.

public sealed partial class UNet : IOnnxModule
{
    /// <summary>
    /// emb = time_embed(sinusoidal(t)) + label_emb(y); conv_in; down levels (pushing skips); mid; up levels (popping
    /// skips); conv_out(silu(norm_out(h))). Inputs x [N, C, H, W] float, t [N] int64, y [N] int64, and for a
    /// guidance-conditioned student the scale [N] float (emb += guidance_embed(sinusoidal(100 scale))).
    /// </summary>
    GraphValue[] IOnnxModule.EmitOnnx(EmitScope s, GraphValue[] inputs)
    {
        var g = s.Graph;
        var (x, t, y) = (inputs[0], inputs[1], inputs[2]);
        if ((inputs.Length == 4) != (guidance_embed is not null))
            throw new InvalidOperationException($"{s.DisplayPath}: {inputs.Length} inputs for a U-Net {(guidance_embed is null ? "without" : "with")} a guidance input.");
        var emb = g.Add(s.Call1(time_embed, TimestepEmbedding(g, t, Config.BaseChannels)), s.Call1(label_emb, y));
        if (guidance_embed is not null)
        {
            GraphValue w;
            using (g.PushScope("guidance_embedding"))
                w = SinusoidalEmbedding(g, g.Mul(inputs[3], g.Scalar(GuidanceEmbedScale)), Config.BaseChannels);
            emb = g.Add(emb, s.Call1(guidance_embed, w));
        }
        var h = s.Call1(conv_in, x);
        var skips = new List<GraphValue> { h };                     // forward's hs
        foreach (var level in down) h = s.Enter(level, ls => level.EmitOnnx(ls, h, emb, skips));
        h = s.Call1(mid, h, emb);
        foreach (var level in up) h = s.Enter(level, ls => level.EmitOnnx(ls, h, emb, skips));
        if (skips.Count != 0) throw new InvalidOperationException($"{skips.Count} skip connections left unused after the up path.");
        return [s.Call1(conv_out, g.Silu(s.Call1(norm_out, h)))];
    }

    /// <summary>
    /// <see cref="TimestepEmbedding(TorchSharp.torch.Tensor, int)"/> in the graph: args = float(t)[:, None] * f[None, :]
    /// with the frequencies of <see cref="TimestepFrequencies"/> (computed by TorchSharp, so the float32 values are
    /// identical) baked as a [1, dim/2] constant; output cat(cos(args), sin(args)) [N, dim].
    /// </summary>
    public static GraphValue TimestepEmbedding(GraphBuilder g, GraphValue t, int dim)
    {
        using var scope = g.PushScope("time_embedding");
        return SinusoidalEmbedding(g, g.Cast(t, DataType.Float), dim);
    }

    /// <summary><see cref="SinusoidalEmbedding(TorchSharp.torch.Tensor, int)"/> in the graph, for float values [N].</summary>
    public static GraphValue SinusoidalEmbedding(GraphBuilder g, GraphValue values, int dim)
    {
        var freqs = TimestepFrequencies(dim);
        var args = g.Mul(g.Unsqueeze(values, 1), g.Constant(freqs, 1, freqs.Length));
        return g.Concat(1, g.Cos(args), g.Sin(args));
    }
}

public sealed partial class DownLevel : IOnnxModule
{
    // The level takes the skip list besides graph values: UNet emits it through EmitScope.Enter and the method below.
    GraphValue[] IOnnxModule.EmitOnnx(EmitScope s, GraphValue[] inputs)
        => throw new InvalidOperationException($"{s.DisplayPath}: a DownLevel is emitted by its UNet, which passes it the skip connections.");

    /// <summary>Res blocks (each optionally followed by attention), pushing every output as a skip; then the stride-2 conv, also pushed.</summary>
    internal GraphValue EmitOnnx(EmitScope s, GraphValue h, GraphValue emb, List<GraphValue> skips)
    {
        for (int b = 0; b < res.Count; b++)
        {
            h = s.Call1(res[b], h, emb);
            if (attn.Count > 0) h = s.Call1(attn[b], h);
            skips.Add(h);
        }
        if (downsample is not null)
        {
            h = s.Call1(downsample, h);
            skips.Add(h);
        }
        return h;
    }
}

public sealed partial class UpLevel : IOnnxModule
{
    // The level takes the skip list besides graph values: UNet emits it through EmitScope.Enter and the method below.
    GraphValue[] IOnnxModule.EmitOnnx(EmitScope s, GraphValue[] inputs)
        => throw new InvalidOperationException($"{s.DisplayPath}: a UpLevel is emitted by its UNet, which passes it the skip connections.");

    /// <summary>Res blocks on Concat([h, skip], axis 1) with the last pushed skip first, optional attention, then the upsample.</summary>
    internal GraphValue EmitOnnx(EmitScope s, GraphValue h, GraphValue emb, List<GraphValue> skips)
    {
        for (int b = 0; b < res.Count; b++)
        {
            var skip = skips[^1];
            skips.RemoveAt(skips.Count - 1);
            h = s.Call1(res[b], s.Graph.Concat(1, h, skip), emb);
            if (attn.Count > 0) h = s.Call1(attn[b], h);
        }
        if (upsample is not null) h = s.Call1(upsample, h);
        return h;
    }
}

public sealed partial class MidBlock : IOnnxModule
{
    /// <summary>res1, optional attention, res2.</summary>
    GraphValue[] IOnnxModule.EmitOnnx(EmitScope s, GraphValue[] inputs)
    {
        var (h, emb) = (inputs[0], inputs[1]);
        h = s.Call1(res1, h, emb);
        if (attn is not null) h = s.Call1(attn, h);
        return [s.Call1(res2, h, emb)];
    }
}

public sealed partial class ResBlock : IOnnxModule
{
    /// <summary>
    /// h = conv1(silu(norm1(x))); [scale, shift] = split(emb_proj(silu(emb)), 2); h = norm2(h) * (scale + 1) + shift;
    /// out = skip(x) + conv2(dropout(silu(h))).
    /// </summary>
    GraphValue[] IOnnxModule.EmitOnnx(EmitScope s, GraphValue[] inputs)
    {
        var g = s.Graph;
        var (x, emb) = (inputs[0], inputs[1]);
        var h = s.Call1(conv1, g.Silu(s.Call1(norm1, x)));
        var embSilu = s.Memo($"silu({emb.Name})", () => g.Silu(emb));  // every block applies it to the same tensor
        var ss = g.Unsqueeze(s.Call1(emb_proj, embSilu), 2, 3);        // [N, 2C, 1, 1]
        var parts = g.Split(ss, 1, [OutChannels, OutChannels]);        // chunk(2, 1)
        h = g.Add(g.Mul(s.Call1(norm2, h), g.Add(parts[0], g.Scalar(1f))), parts[1]);
        h = s.Call1(conv2, s.Call1(dropout, g.Silu(h)));
        var shortcut = skip is null ? x : s.Call1(skip, x);
        return [g.Add(shortcut, h)];
    }
}

public sealed partial class AttentionBlock : IOnnxModule
{
    /// <summary>
    /// Multi-head self-attention over the H*W positions: [q; k; v] = qkv(norm(x)) reshaped [N, 3, heads, d, L];
    /// w = softmax(q^T k / sqrt(d)); o = v w^T reshaped [N, C, H, W]; out = x + proj(o). MatMul / Softmax / MatMul.
    /// </summary>
    GraphValue[] IOnnxModule.EmitOnnx(EmitScope s, GraphValue[] inputs)
    {
        var g = s.Graph;
        var x = inputs[0];
        long c = x[1].Size, hgt = x[2].Size, wid = x[3].Size, l = hgt * wid, heads = NumHeads, d = c / heads;
        var qkvOut = g.Reshape(s.Call1(qkv, s.Call1(norm, x)), 0, 3, heads, d, l);  // [N, 3, heads, d, L]
        GraphValue Part(long i) => g.Gather(qkvOut, g.Scalar(i), axis: 1);            // unbind(1)[i]: [N, heads, d, L]
        var q = Part(0);
        var k = Part(1);
        var scores = g.Mul(g.MatMul(g.Transpose(q, 0, 1, 3, 2), k), g.Scalar((float)(1.0 / Math.Sqrt(d)))); // [N, heads, L, L]
        var weights = g.Softmax(scores, -1);
        var v = Part(2);
        var o = g.Reshape(g.MatMul(v, g.Transpose(weights, 0, 1, 3, 2)), 0, c, hgt, wid);
        return [g.Add(x, s.Call1(proj, o))];
    }
}

public sealed partial class Downsample : IOnnxModule
{
    /// <summary>Stride-2 3x3 convolution.</summary>
    GraphValue[] IOnnxModule.EmitOnnx(EmitScope s, GraphValue[] inputs) => [s.Call1(op, inputs[0])];
}

public sealed partial class Upsample : IOnnxModule
{
    /// <summary>Nearest 2x (Resize, torch's floor index rule: exact pixel copies) then the 3x3 convolution.</summary>
    GraphValue[] IOnnxModule.EmitOnnx(EmitScope s, GraphValue[] inputs)
        => [s.Call1(conv, s.Graph.ResizeNearest(inputs[0], 1f, 1f, 2f, 2f))];
}
