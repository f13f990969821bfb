using System.Text.Json.Serialization;
using Diffusion.Runtime;

namespace Diffusion.Train.Model;

/// <summary>Architecture of the class-conditional U-Net. Presets: small (~0.5M), medium (~2M), large (~8M, attention).</summary>
public sealed record UNetConfig
{
    /// <summary>Image channels C (1 for MNIST).</summary>
    public int InChannels { get; init; } = 1;
    /// <summary>Image side (28). Must be divisible by 2^(levels - 1).</summary>
    public int ImageSize { get; init; } = 28;
    /// <summary>Channels of the first level; the sinusoidal embedding has this size and the embedding MLP 4x.</summary>
    public int BaseChannels { get; init; } = 32;
    /// <summary>Channel multiplier per resolution level, e.g. [1, 2, 2] for 28, 14, 7.</summary>
    public int[] ChannelMults { get; init; } = [1, 2, 2];
    /// <summary>Residual blocks per level on the way down (the way up has one more, for the downsample skip).</summary>
    public int BlocksPerLevel { get; init; } = 2;
    /// <summary>Resolutions (e.g. 14, 7) at which self-attention follows each residual block.</summary>
    public int[] AttentionResolutions { get; init; } = [];
    /// <summary>Attention heads; channels at attention levels must divide evenly.</summary>
    public int NumHeads { get; init; } = 4;
    /// <summary>GroupNorm groups; every channel count must divide evenly.</summary>
    public int Groups { get; init; } = 8;
    /// <summary>Dropout inside residual blocks.</summary>
    public double Dropout { get; init; } = 0.1;
    /// <summary>Real classes; the embedding has one more row, the null class (index = NumClasses).</summary>
    public int NumClasses { get; init; } = 10;

    /// <summary>
    /// A guidance-conditioned student (Meng et al. 2023, issue 18): the guidance scale s (diffusers convention) is a
    /// fourth input, embedded like t (sinusoidal of <see cref="UNet.GuidanceEmbedScale"/> x s, then an MLP whose last
    /// layer starts at zero) and added to the time and class embedding. Written only when on.
    /// </summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingDefault)]
    public bool GuidanceEmbedding { get; init; }

    /// <summary>Embedding width (4 x base channels).</summary>
    [JsonIgnore] public int EmbedDim => 4 * BaseChannels;

    /// <summary>A named preset.</summary>
    /// <exception cref="InvalidInputException">Unknown name.</exception>
    public static UNetConfig Preset(string name) => name.Trim().ToLowerInvariant() switch
    {
        "small" => new UNetConfig { BaseChannels = 16, ChannelMults = [1, 2, 3], BlocksPerLevel = 1, Groups = 8 },
        "medium" => new UNetConfig { BaseChannels = 32, ChannelMults = [1, 2, 2], BlocksPerLevel = 2, Groups = 8 },
        "large" => new UNetConfig { BaseChannels = 64, ChannelMults = [1, 2, 2], BlocksPerLevel = 2, Groups = 32, AttentionResolutions = [14, 7], NumHeads = 4 },
        _ => throw new InvalidInputException($"Unknown model preset '{name}'; expected small, medium or large."),
    };

    /// <summary>Checks the architecture is buildable.</summary>
    /// <exception cref="InvalidInputException">A value is out of range; the message names it.</exception>
    public void Validate()
    {
        if (InChannels < 1) throw new InvalidInputException($"model.in_channels = {InChannels}; expected >= 1.");
        if (BaseChannels < 1) throw new InvalidInputException($"model.base_channels = {BaseChannels}; expected >= 1.");
        if (BaseChannels % 2 != 0) throw new InvalidInputException($"model.base_channels = {BaseChannels}; expected an even number (sinusoidal embedding).");
        if (ChannelMults.Length < 1 || ChannelMults.Any(m => m < 1)) throw new InvalidInputException($"model.channel_mults = [{string.Join(",", ChannelMults)}]; expected one or more positive multipliers.");
        if (BlocksPerLevel < 1) throw new InvalidInputException($"model.blocks_per_level = {BlocksPerLevel}; expected >= 1.");
        if (Groups < 1) throw new InvalidInputException($"model.groups = {Groups}; expected >= 1.");
        if (NumHeads < 1) throw new InvalidInputException($"model.num_heads = {NumHeads}; expected >= 1.");
        if (!(Dropout >= 0 && Dropout < 1)) throw new InvalidInputException($"model.dropout = {Dropout}; expected 0 <= dropout < 1.");
        if (NumClasses < 1) throw new InvalidInputException($"model.num_classes = {NumClasses}; expected >= 1.");
        int levels = ChannelMults.Length, size = ImageSize;
        for (int l = 0; l < levels - 1; l++)
        {
            if (size % 2 != 0) throw new InvalidInputException($"model: image size {ImageSize} cannot be halved {levels - 1} times (level {l} has {size}); use fewer channel_mults.");
            size /= 2;
        }
        foreach (int m in ChannelMults.Prepend(1))
        {
            int c = BaseChannels * m;
            if (c % Groups != 0) throw new InvalidInputException($"model: {c} channels are not divisible by groups = {Groups}.");
        }
        int r = ImageSize;
        for (int l = 0; l < levels; l++, r /= 2)
            if (AttentionResolutions.Contains(r) && BaseChannels * ChannelMults[l] % NumHeads != 0)
                throw new InvalidInputException($"model: {BaseChannels * ChannelMults[l]} channels at resolution {r} are not divisible by num_heads = {NumHeads}.");
    }
}
