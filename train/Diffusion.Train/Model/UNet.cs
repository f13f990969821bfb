using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace Diffusion.Train.Model;

/// <summary>
/// Class-conditional DDPM U-Net (Ho et al. 2020; Nichol &amp; Dhariwal 2021 "improved" block layout):
/// sinusoidal time embedding + MLP, a class embedding with a null row for classifier-free guidance,
/// residual blocks with GroupNorm, SiLU and scale-shift conditioning, optional self-attention, skip connections.
/// A guidance-conditioned student (<see cref="UNetConfig.GuidanceEmbedding"/>) also embeds the guidance scale.
/// Submodules are fields named like PyTorch state_dict keys, declared in call order. The ONNX form of every block
/// is written beside it, in UNet.Onnx.cs, from the same fields (<see cref="Diffusion.Onnx.Torch.IOnnxModule"/>).
/// </summary>
public sealed partial class UNet : Module<Tensor, Tensor, Tensor, Tensor>
{
    private readonly Sequential time_embed;
    private readonly Embedding label_emb;
    private readonly Sequential? guidance_embed;   // only in a guidance-conditioned student
    private readonly Conv2d conv_in;
    private readonly ModuleList<DownLevel> down;
    private readonly MidBlock mid;
    private readonly ModuleList<UpLevel> up;
    private readonly GroupNorm norm_out;
    private readonly Conv2d conv_out;

    /// <summary>The architecture this model was built from.</summary>
    public UNetConfig Config { get; }

    /// <summary>Builds the network for <paramref name="config"/> (validated first).</summary>
    public UNet(UNetConfig config) : base(nameof(UNet))
    {
        config.Validate();
        Config = config;
        int ch = config.BaseChannels, emb = config.EmbedDim, levels = config.ChannelMults.Length;

        time_embed = Sequential(("0", Linear(ch, emb)), ("1", SiLU()), ("2", Linear(emb, emb)));
        label_emb = Embedding(config.NumClasses + 1, emb);
        if (config.GuidanceEmbedding)
            guidance_embed = Sequential(("0", Linear(ch, emb)), ("1", SiLU()), ("2", Linear(emb, emb)));
        conv_in = Conv2d(config.InChannels, ch, 3, padding: 1);

        // Down path; remember each skip's channel count for the up path.
        var skips = new List<int> { ch };
        var downLevels = new List<DownLevel>();
        int cur = ch, res = config.ImageSize;
        for (int l = 0; l < levels; l++)
        {
            int outCh = ch * config.ChannelMults[l];
            bool attn = config.AttentionResolutions.Contains(res), last = l == levels - 1;
            var level = new DownLevel(cur, outCh, emb, config, attn, downsample: !last);
            downLevels.Add(level);
            cur = outCh;
            for (int b = 0; b < config.BlocksPerLevel; b++) skips.Add(cur);
            if (!last) { skips.Add(cur); res /= 2; }
        }
        down = ModuleList(downLevels.ToArray());
        mid = new MidBlock(cur, emb, config, config.AttentionResolutions.Contains(res));

        var upLevels = new List<UpLevel>();
        for (int l = levels - 1; l >= 0; l--)
        {
            int outCh = ch * config.ChannelMults[l];
            var ins = new int[config.BlocksPerLevel + 1];
            for (int b = 0; b < ins.Length; b++) { ins[b] = cur + skips[^1]; skips.RemoveAt(skips.Count - 1); cur = outCh; }
            upLevels.Add(new UpLevel(ins, outCh, emb, config, config.AttentionResolutions.Contains(res), upsample: l > 0));
            if (l > 0) res *= 2;
        }
        up = ModuleList(upLevels.ToArray());
        norm_out = GroupNorm(config.Groups, cur);
        conv_out = Conv2d(cur, config.InChannels, 3, padding: 1);
        RegisterComponents();
        InitializeNorms(this);
        if (guidance_embed is not null)
        {
            // the last layer starts at zero: a student initialised from its teacher starts as the teacher
            using var _ = no_grad();
            var last = (Linear)guidance_embed[2];
            init.zeros_(last.weight);
            if (last.bias is not null) init.zeros_(last.bias);
        }
    }

    /// <summary>The guidance scale s enters the sinusoidal embedding as s x this (s in 1..8 spans t's range 0..999).</summary>
    public const float GuidanceEmbedScale = 100f;
    private static readonly Scalar GuidanceEmbedScalar = GuidanceEmbedScale.ToScalar();   // process lifetime: see ResBlock's One

    /// <summary>
    /// Sets every GroupNorm's scale to 1 and shift to 0, as PyTorch does. TorchSharp 0.107's GroupNorm allocates its
    /// affine parameters with <c>torch.empty</c> and never initializes them (garbage or NaN weights otherwise).
    /// </summary>
    public static void InitializeNorms(Module root)
    {
        using var _ = no_grad();
        foreach (var norm in root.modules().OfType<GroupNorm>())
        {
            init.ones_(norm.weight);
            if (norm.bias is not null) init.zeros_(norm.bias);
        }
    }

    /// <summary>Predicts the model's target for noisy images.</summary>
    /// <param name="x">Noisy images x_t, [N, C, H, W] float, pixels in [-1, 1] scale.</param>
    /// <param name="t">Timesteps, [N] int64 in 0..T-1.</param>
    /// <param name="y">Labels, [N] int64 in 0..NumClasses (NumClasses = null class).</param>
    /// <returns>Prediction (epsilon, x0 or v), [N, C, H, W].</returns>
    /// <exception cref="InvalidOperationException">The model is a guidance-conditioned student (it needs the scale).</exception>
    public override Tensor forward(Tensor x, Tensor t, Tensor y) => forward(x, t, y, null);

    /// <summary>Predicts the model's target; a guidance-conditioned student also takes the guidance scale.</summary>
    /// <param name="x">Noisy images x_t, [N, C, H, W] float, pixels in [-1, 1] scale.</param>
    /// <param name="t">Timesteps, [N] int64 in 0..T-1.</param>
    /// <param name="y">Labels, [N] int64 in 0..NumClasses (NumClasses = null class).</param>
    /// <param name="scale">Guidance scales (diffusers convention), [N] float; only for a student, null otherwise.</param>
    /// <returns>Prediction (epsilon, x0 or v), [N, C, H, W].</returns>
    /// <exception cref="InvalidOperationException">A scale given to a plain model or missing for a student.</exception>
    public Tensor forward(Tensor x, Tensor t, Tensor y, Tensor? scale)
    {
        if ((scale is null) == (guidance_embed is not null))
            throw new InvalidOperationException(guidance_embed is null ? "This U-Net has no guidance input; call it without a scale." : "This U-Net is a guidance-conditioned student; it needs the guidance scale.");
        using var scope = NewDisposeScope();
        var emb = time_embed.forward(TimestepEmbedding(t, Config.BaseChannels)) + label_emb.forward(y);
        if (guidance_embed is not null) emb = emb + guidance_embed.forward(SinusoidalEmbedding(scale! * GuidanceEmbedScalar, Config.BaseChannels));
        var h = conv_in.forward(x);
        var hs = new List<Tensor> { h };
        foreach (var level in down) h = level.forward(h, emb, hs);
        h = mid.forward(h, emb);
        foreach (var level in up) h = level.forward(h, emb, hs);
        return conv_out.forward(functional.silu(norm_out.forward(h))).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// Sinusoidal embedding (Vaswani et al. 2017, as in improved-diffusion): [cos(t f_i), sin(t f_i)] with
    /// f_i = exp(-ln(10000) i / (dim / 2)), i = 0..dim/2-1.
    /// </summary>
    /// <param name="t">[N] int64 timesteps.</param>
    /// <param name="dim">Even embedding width.</param>
    /// <returns>[N, dim] float32.</returns>
    public static Tensor TimestepEmbedding(Tensor t, int dim)
    {
        using var scope = NewDisposeScope();
        return SinusoidalEmbedding(t.to_type(float32), dim).MoveToOuterDisposeScope();
    }

    /// <summary>The sinusoidal embedding of float values: [cos(v f_i), sin(v f_i)], f_i as in <see cref="TimestepEmbedding(Tensor, int)"/>.</summary>
    /// <param name="values">[N] float32.</param>
    /// <param name="dim">Even embedding width.</param>
    /// <returns>[N, dim] float32.</returns>
    public static Tensor SinusoidalEmbedding(Tensor values, int dim)
    {
        using var scope = NewDisposeScope();
        using Scalar step = (-Math.Log(10000.0) / (dim / 2)).ToScalar();   // held: see ResBlock's One
        var freqs = exp(arange(0, dim / 2, dtype: float32, device: values.device) * step);
        var args = values.unsqueeze(1) * freqs.unsqueeze(0);
        return cat([cos(args), sin(args)], 1).MoveToOuterDisposeScope();
    }

    /// <summary>Frequencies f_i used by <see cref="TimestepEmbedding(Tensor, int)"/> (its ONNX form bakes them as a constant).</summary>
    public static float[] TimestepFrequencies(int dim)
    {
        using var scope = NewDisposeScope();
        return exp(arange(0, dim / 2, dtype: float32) * (-Math.Log(10000.0) / (dim / 2))).data<float>().ToArray();
    }

    /// <summary>Number of trainable parameters.</summary>
    public long ParameterCount() => parameters().Sum(p => p.numel());
}

/// <summary>One resolution level of the down path: residual blocks (each optionally followed by attention), then a stride-2 conv.</summary>
public sealed partial class DownLevel : Module
{
    private readonly ModuleList<ResBlock> res;
    private readonly ModuleList<AttentionBlock> attn;
    private readonly Downsample? downsample;

    /// <summary>Creates the level.</summary>
    public DownLevel(int inCh, int outCh, int emb, UNetConfig config, bool attention, bool downsample) : base(nameof(DownLevel))
    {
        var blocks = new ResBlock[config.BlocksPerLevel];
        for (int b = 0; b < blocks.Length; b++) blocks[b] = new ResBlock(b == 0 ? inCh : outCh, outCh, emb, config);
        res = ModuleList(blocks);
        attn = ModuleList(attention ? blocks.Select(_ => new AttentionBlock(outCh, config)).ToArray() : []);
        this.downsample = downsample ? new Downsample(outCh) : null;
        RegisterComponents();
    }

    /// <summary>Runs the level, pushing every block's output onto <paramref name="skips"/>.</summary>
    public Tensor forward(Tensor h, Tensor emb, List<Tensor> skips)
    {
        for (int b = 0; b < res.Count; b++)
        {
            h = res[b].forward(h, emb);
            if (attn.Count > 0) h = attn[b].forward(h);
            skips.Add(h);
        }
        if (downsample is not null) { h = downsample.forward(h); skips.Add(h); }
        return h;
    }
}

/// <summary>Bottleneck: residual block, optional attention, residual block.</summary>
public sealed partial class MidBlock : Module<Tensor, Tensor, Tensor>
{
    private readonly ResBlock res1;
    private readonly AttentionBlock? attn;
    private readonly ResBlock res2;

    /// <summary>Creates the bottleneck.</summary>
    public MidBlock(int ch, int emb, UNetConfig config, bool attention) : base(nameof(MidBlock))
    {
        res1 = new ResBlock(ch, ch, emb, config);
        attn = attention ? new AttentionBlock(ch, config) : null;
        res2 = new ResBlock(ch, ch, emb, config);
        RegisterComponents();
    }

    /// <inheritdoc/>
    public override Tensor forward(Tensor h, Tensor emb)
    {
        h = res1.forward(h, emb);
        if (attn is not null) h = attn.forward(h);
        return res2.forward(h, emb);
    }
}

/// <summary>One resolution level of the up path: residual blocks on [h, skip] concatenations, then nearest 2x upsample + conv.</summary>
public sealed partial class UpLevel : Module
{
    private readonly ModuleList<ResBlock> res;
    private readonly ModuleList<AttentionBlock> attn;
    private readonly Upsample? upsample;

    /// <summary>Creates the level; <paramref name="inChannels"/> are each block's input widths (h + skip).</summary>
    public UpLevel(int[] inChannels, int outCh, int emb, UNetConfig config, bool attention, bool upsample) : base(nameof(UpLevel))
    {
        var blocks = inChannels.Select(c => new ResBlock(c, outCh, emb, config)).ToArray();
        res = ModuleList(blocks);
        attn = ModuleList(attention ? blocks.Select(_ => new AttentionBlock(outCh, config)).ToArray() : []);
        this.upsample = upsample ? new Upsample(outCh) : null;
        RegisterComponents();
    }

    /// <summary>Runs the level, popping skips from <paramref name="skips"/>.</summary>
    public Tensor forward(Tensor h, Tensor emb, List<Tensor> skips)
    {
        for (int b = 0; b < res.Count; b++)
        {
            var skip = skips[^1]; skips.RemoveAt(skips.Count - 1);
            h = res[b].forward(cat([h, skip], 1), emb);
            if (attn.Count > 0) h = attn[b].forward(h);
        }
        if (upsample is not null) h = upsample.forward(h);
        return h;
    }
}

/// <summary>
/// Residual block with scale-shift conditioning (Nichol &amp; Dhariwal 2021 / Dhariwal &amp; Nichol 2021):
/// h = conv1(silu(norm1(x))); h = norm2(h) * (1 + scale) + shift with [scale, shift] = emb_proj(silu(emb));
/// out = skip(x) + conv2(dropout(silu(h))).
/// </summary>
public sealed partial class ResBlock : Module<Tensor, Tensor, Tensor>
{
    private readonly GroupNorm norm1;
    private readonly Conv2d conv1;
    private readonly Linear emb_proj;
    private readonly GroupNorm norm2;
    private readonly Dropout dropout;
    private readonly Conv2d conv2;
    private readonly Conv2d? skip;
    // TorchSharp 0.107 passes an implicitly converted Scalar's handle to native code without keeping the Scalar alive:
    // a GC on another thread during the call can finalize it first ("Expected false to be true ... toFloat", seen once
    // in CI from `ss[0] + 1`). A static Scalar is never finalized.
    private static readonly Scalar One = 1.ToScalar();

    /// <summary>Input and output channel counts.</summary>
    public int InChannels { get; }
    /// <summary>Output channel count.</summary>
    public int OutChannels { get; }

    /// <summary>Creates the block.</summary>
    public ResBlock(int inCh, int outCh, int emb, UNetConfig config) : base(nameof(ResBlock))
    {
        InChannels = inCh; OutChannels = outCh;
        norm1 = GroupNorm(config.Groups, inCh);
        conv1 = Conv2d(inCh, outCh, 3, padding: 1);
        emb_proj = Linear(emb, 2 * outCh);
        norm2 = GroupNorm(config.Groups, outCh);
        dropout = Dropout(config.Dropout);
        conv2 = Conv2d(outCh, outCh, 3, padding: 1);
        skip = inCh != outCh ? Conv2d(inCh, outCh, 1) : null;
        RegisterComponents();
    }

    /// <summary>x [N, Cin, H, W], emb [N, E] to [N, Cout, H, W].</summary>
    public override Tensor forward(Tensor x, Tensor emb)
    {
        using var scope = NewDisposeScope();
        var h = conv1.forward(functional.silu(norm1.forward(x)));
        var ss = emb_proj.forward(functional.silu(emb)).unsqueeze(-1).unsqueeze(-1).chunk(2, 1);
        h = norm2.forward(h) * ss[0].add(One, One) + ss[1]; // (1 + scale), with Scalars that live for the process
        h = conv2.forward(dropout.forward(functional.silu(h)));
        var s = skip is null ? x : skip.forward(x);
        return (s + h).MoveToOuterDisposeScope();
    }
}

/// <summary>Multi-head self-attention over the H x W positions: x + proj(attention(qkv(norm(x)))).</summary>
public sealed partial class AttentionBlock : Module<Tensor, Tensor>
{
    private readonly GroupNorm norm;
    private readonly Conv2d qkv;
    private readonly Conv2d proj;

    /// <summary>Attention heads.</summary>
    public int NumHeads { get; }

    /// <summary>Creates the block.</summary>
    public AttentionBlock(int ch, UNetConfig config) : base(nameof(AttentionBlock))
    {
        NumHeads = config.NumHeads;
        norm = GroupNorm(config.Groups, ch);
        qkv = Conv2d(ch, 3 * ch, 1);
        proj = Conv2d(ch, ch, 1);
        RegisterComponents();
    }

    /// <summary>x [N, C, H, W] to [N, C, H, W].</summary>
    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        long n = x.shape[0], c = x.shape[1], hgt = x.shape[2], wid = x.shape[3], l = hgt * wid, d = c / NumHeads;
        // [N, 3C, H, W] -> [N, 3, heads, d, L]; q, k, v: [N, heads, d, L]
        var parts = qkv.forward(norm.forward(x)).reshape(n, 3, NumHeads, d, l).unbind(1);
        using Scalar scale = (1.0 / Math.Sqrt(d)).ToScalar();                             // held: see ResBlock's One
        var scores = matmul(parts[0].transpose(-1, -2), parts[1]) * scale;                 // [N, heads, L, L]
        var weights = scores.softmax(-1);
        var o = matmul(parts[2], weights.transpose(-1, -2)).reshape(n, c, hgt, wid);     // [N, heads, d, L]
        return (x + proj.forward(o)).MoveToOuterDisposeScope();
    }
}

/// <summary>Stride-2 3x3 convolution, [N, C, H, W] to [N, C, H/2, W/2].</summary>
public sealed partial class Downsample : Module<Tensor, Tensor>
{
    private readonly Conv2d op;

    /// <summary>Creates the layer.</summary>
    public Downsample(int ch) : base(nameof(Downsample))
    {
        op = Conv2d(ch, ch, 3, stride: 2, padding: 1);
        RegisterComponents();
    }

    /// <inheritdoc/>
    public override Tensor forward(Tensor x) => op.forward(x);
}

/// <summary>Nearest-neighbour 2x upsampling then 3x3 convolution, [N, C, H, W] to [N, C, 2H, 2W].</summary>
public sealed partial class Upsample : Module<Tensor, Tensor>
{
    private readonly Conv2d conv;

    /// <summary>Creates the layer.</summary>
    public Upsample(int ch) : base(nameof(Upsample))
    {
        conv = Conv2d(ch, ch, 3, padding: 1);
        RegisterComponents();
    }

    /// <inheritdoc/>
    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        var u = functional.interpolate(x, scale_factor: [2.0, 2.0], mode: InterpolationMode.Nearest);
        return conv.forward(u).MoveToOuterDisposeScope();
    }
}
