using Diffusion.Runtime.Samplers;

namespace Diffusion.Runtime.Generation;

/// <summary>Whether a model folder's distilled students (issue 18) serve a request.</summary>
public enum StudentMode
{
    /// <summary>A student distilled for the requested step count serves it (with its DDIM sampler, one pass per step) when the scale is in its range; otherwise the teacher's graphs.</summary>
    Auto,
    /// <summary>The teacher's graphs only.</summary>
    Off,
    /// <summary>A student must serve the request: no student for the step count, or a scale outside its range, is an error.</summary>
    Require,
}

/// <summary>Names of <see cref="StudentMode"/> on command lines.</summary>
public static class StudentModes
{
    /// <summary>Parses auto, off or require.</summary>
    /// <exception cref="InvalidInputException">Any other value.</exception>
    public static StudentMode Parse(string value) => value?.Trim().ToLowerInvariant() switch
    {
        "auto" => StudentMode.Auto,
        "off" => StudentMode.Off,
        "require" => StudentMode.Require,
        _ => throw new InvalidInputException($"--student {value}; expected auto, off or require."),
    };
}

/// <summary>
/// What to generate. Image i (0-based, in <see cref="Labels"/> order) starts from noise keyed by
/// (<see cref="Seed"/>, <see cref="FirstIndex"/> + i), so it is the same image whatever <see cref="BatchSize"/>.
/// </summary>
public sealed record GenerationRequest
{
    /// <summary>Class of each image, any mix (0..NumClasses-1, or NumClasses for unconditional).</summary>
    public required IReadOnlyList<int> Labels { get; init; }
    /// <summary>Classifier-free guidance scale, diffusers' convention: 1 = conditional (unet.onnx only), 0 = unconditional, &gt; 1 stronger.</summary>
    public float GuidanceScale { get; init; } = 1f;
    /// <summary>Number of sampling steps, 1..T.</summary>
    public int Steps { get; init; } = 20;
    /// <summary>Sampler.</summary>
    public SamplerKind Sampler { get; init; } = SamplerKind.DpmSolverPlusPlus;
    /// <summary>Sampler options (eta for DDIM, spacing, clipping, dynamic thresholding).</summary>
    public SamplerOptions SamplerOptions { get; init; } = SamplerOptions.Images;
    /// <summary>Noise seed.</summary>
    public ulong Seed { get; init; }
    /// <summary>Sample index of the first image (to split one logical request over several calls).</summary>
    public long FirstIndex { get; init; }
    /// <summary>Images per model call (the last batch may be smaller).</summary>
    public int BatchSize { get; init; } = 64;
    /// <summary>Capture the sample and predicted x0 every k steps (plus x_T and the final step); 0 = no capture.</summary>
    public int TrajectoryEvery { get; init; }
    /// <summary>Whether a distilled student serves the request (<see cref="StudentMode.Auto"/>: when one matches the steps).</summary>
    public StudentMode Student { get; init; } = StudentMode.Auto;
    /// <summary>Called after every step (on the generating thread). Use a non-allocating implementation for hot loops.</summary>
    public IProgress<GenerationProgress>? Progress { get; init; }
}

/// <summary>Progress of a generation, reported after every step.</summary>
/// <param name="CompletedSteps">Steps done over all batches.</param>
/// <param name="TotalSteps">Steps over all batches (steps x batches).</param>
/// <param name="CompletedImages">Images finished.</param>
/// <param name="TotalImages">Images requested.</param>
/// <param name="Timestep">Model timestep of the step just taken.</param>
public readonly record struct GenerationProgress(int CompletedSteps, int TotalSteps, int CompletedImages, int TotalImages, int Timestep);

/// <summary>One captured point of the reverse process.</summary>
/// <param name="Step">Number of steps taken (0 = the initial noise x_T).</param>
/// <param name="Timestep">Model timestep the sample is at (the first timestep for x_T; -1 = clean data after the last step).</param>
/// <param name="Sample">x at this point for every image, [N, C, H, W] flattened.</param>
/// <param name="PredictedX0">The predicted x0 of the step that produced it, [N, C, H, W]; equals Sample for step 0.</param>
public sealed record TrajectoryFrame(int Step, int Timestep, float[] Sample, float[] PredictedX0);

/// <summary>Generated images, in request order.</summary>
public sealed class GenerationResult
{
    internal GenerationResult(float[] images, int[] labels, int c, int h, int w, IReadOnlyList<TrajectoryFrame> trajectory, TimeSpan elapsed, int modelCalls, string graph)
    {
        Images = images; Labels = labels; Channels = c; Height = h; Width = w;
        Trajectory = trajectory; Elapsed = elapsed; ModelCalls = modelCalls; Graph = graph;
    }

    /// <summary>The graph that generated the images: its file name (e.g. <c>unet-guided-int8.onnx</c>, <c>unet-student-4.onnx</c>), or its kind for denoisers without a file.</summary>
    public string Graph { get; }

    /// <summary>Images in model space ([-1, 1], not clamped), [N, C, H, W] flattened.</summary>
    public float[] Images { get; }
    /// <summary>Label of each image, [N].</summary>
    public int[] Labels { get; }
    /// <summary>Number of images N.</summary>
    public int Count => Labels.Length;
    /// <summary>Channels C.</summary>
    public int Channels { get; }
    /// <summary>Height H.</summary>
    public int Height { get; }
    /// <summary>Width W.</summary>
    public int Width { get; }
    /// <summary>Elements per image, C * H * W.</summary>
    public int ImageSize => Channels * Height * Width;
    /// <summary>Captured frames (empty unless requested).</summary>
    public IReadOnlyList<TrajectoryFrame> Trajectory { get; }
    /// <summary>Wall time of the generation.</summary>
    public TimeSpan Elapsed { get; }
    /// <summary>Number of model evaluations (Run calls).</summary>
    public int ModelCalls { get; }

    /// <summary>Images as bytes 0-255 (<see cref="Pixels.ToByte"/>), [N, C, H, W].</summary>
    public byte[] ToBytes()
    {
        var bytes = new byte[Images.Length];
        Pixels.ToBytes(Images, bytes);
        return bytes;
    }

    /// <summary>Image <paramref name="index"/>, [C, H, W] flattened.</summary>
    public ReadOnlySpan<float> Image(int index) => Images.AsSpan(index * ImageSize, ImageSize);
}
