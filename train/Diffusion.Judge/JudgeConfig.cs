using System.Text.Json.Serialization;
using Diffusion.Runtime;

namespace Diffusion.Judge;

/// <summary>
/// Architecture of the judge CNN: two VGG-style stages (conv-BN-ReLU x2, then 2x2 max-pool) at 28 and 14 pixels,
/// a fully connected feature layer (the "penultimate" features used for Frechet distance and diversity) and a
/// linear head.
/// </summary>
public sealed record JudgeConfig
{
    /// <summary>Image channels (1).</summary>
    public int InChannels { get; init; } = 1;
    /// <summary>Image side (28); must be divisible by 4.</summary>
    public int ImageSize { get; init; } = 28;
    /// <summary>Channels of the first stage (28 x 28).</summary>
    public int Channels1 { get; init; } = 32;
    /// <summary>Channels of the second stage (14 x 14).</summary>
    public int Channels2 { get; init; } = 64;
    /// <summary>Width F of the penultimate feature layer.</summary>
    public int FeatureDim { get; init; } = 128;
    /// <summary>Dropout before the head (training only).</summary>
    public double Dropout { get; init; } = 0.3;
    /// <summary>Number of classes K.</summary>
    public int NumClasses { get; init; } = 10;

    /// <summary>Input width of the feature layer: Channels2 * (ImageSize / 4)^2.</summary>
    [JsonIgnore] public int FlatDim => Channels2 * (ImageSize / 4) * (ImageSize / 4);

    /// <summary>Checks the architecture is buildable.</summary>
    /// <exception cref="InvalidInputException">A value is out of range; the message names it.</exception>
    public void Validate()
    {
        if (InChannels < 1) throw new InvalidInputException($"judge in_channels = {InChannels}; expected >= 1.");
        if (ImageSize < 4 || ImageSize % 4 != 0) throw new InvalidInputException($"judge image_size = {ImageSize}; expected a multiple of 4.");
        if (Channels1 < 1 || Channels2 < 1) throw new InvalidInputException($"judge channels = {Channels1}, {Channels2}; expected >= 1.");
        if (FeatureDim < 1) throw new InvalidInputException($"judge feature_dim = {FeatureDim}; expected >= 1.");
        if (!(Dropout >= 0 && Dropout < 1)) throw new InvalidInputException($"judge dropout = {Dropout}; expected 0 <= dropout < 1.");
        if (NumClasses < 2) throw new InvalidInputException($"judge num_classes = {NumClasses}; expected >= 2.");
    }
}
