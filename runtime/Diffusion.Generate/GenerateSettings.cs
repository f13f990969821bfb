using Diffusion.Runtime;
using Diffusion.Runtime.Onnx;
using Diffusion.Runtime.Samplers;

namespace Diffusion.Generate;

/// <summary>Output formats of <c>generate</c>.</summary>
[Flags]
public enum OutputFormats
{
    /// <summary>Nothing.</summary>
    None = 0,
    /// <summary>grid.png, one row per class (and single PNGs with --single).</summary>
    Png = 1,
    /// <summary>images-idx3-ubyte + labels-idx1-ubyte (0-255).</summary>
    Idx = 2,
    /// <summary>reverse.png strip + reverse.gif animation of one sample per class.</summary>
    Gif = 4,
}

/// <summary>Everything <c>generate</c> was asked to do.</summary>
public sealed record GenerateSettings
{
    /// <summary>Model folder or .onnx file.</summary>
    public required string Model { get; init; }
    /// <summary>Class list, e.g. "0-9".</summary>
    public string Digits { get; init; } = "0-9";
    /// <summary>Images per class.</summary>
    public int PerClass { get; init; } = 8;
    /// <summary>Most images per class one command makes: 10,000 per class of 10 classes at 28 x 28 hold 31 MB of pixels, and a grid row stays a viewable PNG.</summary>
    public const int MaxPerClass = 10_000;
    /// <summary>Guidance scale (diffusers' convention).</summary>
    public float Guidance { get; init; } = 3f;
    /// <summary>Sampling steps.</summary>
    public int Steps { get; init; } = 20;
    /// <summary>Sampler.</summary>
    public SamplerKind Sampler { get; init; } = SamplerKind.DpmSolverPlusPlus;
    /// <summary>Whether the model folder's distilled student for the step count serves the request.</summary>
    public Diffusion.Runtime.Generation.StudentMode Student { get; init; } = Diffusion.Runtime.Generation.StudentMode.Auto;
    /// <summary>Sampler options.</summary>
    public SamplerOptions SamplerOptions { get; init; } = SamplerOptions.Images;
    /// <summary>Noise seed.</summary>
    public ulong Seed { get; init; }
    /// <summary>Batch size.</summary>
    public int Batch { get; init; } = 64;
    /// <summary>ONNX Runtime options.</summary>
    public RuntimeOptions Runtime { get; init; } = RuntimeOptions.Default;
    /// <summary>Output folder.</summary>
    public string Out { get; init; } = "out/generate";
    /// <summary>Formats to write.</summary>
    public OutputFormats Formats { get; init; } = OutputFormats.Png;
    /// <summary>Also write single PNGs.</summary>
    public bool Single { get; init; }
    /// <summary>Frames of the reverse / forward process.</summary>
    public int Frames { get; init; } = 10;
    /// <summary>IDX folder for the forward process, or null.</summary>
    public string? ForwardFrom { get; init; }
    /// <summary>No progress bar.</summary>
    public bool Quiet { get; init; }

    /// <summary>Parses "png", "idx", "gif" or a comma list of them.</summary>
    /// <exception cref="InvalidInputException">Unknown or empty format.</exception>
    public static OutputFormats ParseFormats(string value)
    {
        var f = OutputFormats.None;
        foreach (var part in (value ?? "").Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries))
            f |= part.ToLowerInvariant() switch
            {
                "png" => OutputFormats.Png,
                "idx" => OutputFormats.Idx,
                "gif" => OutputFormats.Gif,
                _ => throw new InvalidInputException($"--format '{value}': unknown format '{part}'; expected png, idx, gif or a comma list."),
            };
        return f == OutputFormats.None ? throw new InvalidInputException($"--format '{value}' is empty; expected png, idx or gif.") : f;
    }
}
