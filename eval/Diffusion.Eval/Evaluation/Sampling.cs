using System.Globalization;
using Diffusion.Runtime;
using Diffusion.Runtime.Generation;
using Diffusion.Runtime.Samplers;

namespace Diffusion.Eval.Evaluation;

/// <summary>A sampling setting: sampler, steps, classifier-free guidance scale (diffusers convention) and DDIM eta.</summary>
/// <param name="Sampler">Sampler.</param>
/// <param name="Steps">Sampling steps.</param>
/// <param name="GuidanceScale">Guidance scale (1 = conditional).</param>
/// <param name="Eta">DDIM eta (0 = deterministic; ignored by the other samplers).</param>
/// <param name="Student">Whether a distilled student of the model folder serves the steps (auto: when one was distilled for them).</param>
public sealed record SamplingSetting(SamplerKind Sampler, int Steps, float GuidanceScale, double Eta = 0, StudentMode Student = StudentMode.Auto)
{
    /// <summary>"dpm++ 20 steps, guidance 2".</summary>
    public override string ToString() => string.Create(CultureInfo.InvariantCulture,
        $"{SamplerFactory.Name(Sampler)} {Steps} steps, guidance {GuidanceScale:0.##}{(Sampler == SamplerKind.Ddim && Eta != 0 ? $", eta {Eta:0.##}" : "")}");
}

/// <summary>The defaults of <c>make eval</c> and <c>make gate</c> (one place; see eval/README.md for how they were chosen).</summary>
public static class EvalDefaults
{
    /// <summary>Default sampler: DPM-Solver++ 2M.</summary>
    public const SamplerKind Sampler = SamplerKind.DpmSolverPlusPlus;
    /// <summary>Default number of steps.</summary>
    public const int Steps = 20;
    /// <summary>
    /// Default guidance scale (diffusers convention; w = 2 in the "(1 + w) cond - w uncond" one). Chosen from the
    /// guidance sweep of the development MNIST model (eval/README.md): the lowest Frechet distance at 10, 20 and
    /// 50 steps, with accuracy still rising and diversity still near the real data's.
    /// </summary>
    public const float GuidanceScale = 3f;
    /// <summary>Default noise seed of generated sets.</summary>
    public const ulong Seed = 1234;
    /// <summary>Images per class of the gate.</summary>
    public const int GatePerClass = 50;
    /// <summary>Accuracy the gate requires of the main judge.</summary>
    public const double GateThreshold = 0.99;
    /// <summary>The default setting.</summary>
    public static SamplingSetting Setting => new(Sampler, Steps, GuidanceScale);
}

/// <summary>A generated set and how it was made.</summary>
/// <param name="Images">The images, class-major.</param>
/// <param name="Seconds">Wall time of generation.</param>
/// <param name="Graph">File of the graph that generated them (<see cref="GenerationResult.Graph"/>).</param>
/// <param name="Student">True when a distilled student served the setting (with DDIM at its own steps).</param>
/// <param name="What">The setting as it ran: the setting itself, or the student, its sampler, steps and guidance.</param>
public sealed record GeneratedSet(ImageSet Images, double Seconds, string Graph, bool Student, string What);

/// <summary>Generates labelled sets with the runtime's <see cref="DiffusionPipeline"/>.</summary>
public static class Sampling
{
    /// <summary>
    /// <paramref name="perClass"/> images of every class, class-major (all of class 0, then class 1, ...), with the
    /// image defaults of the generate command (<see cref="SamplerOptions.Images"/>: predicted x0 clipped). The images
    /// go through bytes exactly as <c>generate --format idx</c> writes them (clamped to [-1, 1], rounded to 0-255),
    /// so a set judged here and the same set judged from IDX files give the same numbers.
    /// </summary>
    /// <returns>The images, the wall time of generation (seconds) and the graph that made them.</returns>
    /// <exception cref="InvalidInputException">Invalid setting for this model.</exception>
    public static GeneratedSet Generate(DiffusionPipeline pipeline, SamplingSetting setting, int perClass,
        ulong seed, int batchSize = 64, IProgress<GenerationProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        if (perClass < 1) throw new InvalidInputException($"--per-class {perClass}; expected >= 1.");
        var meta = pipeline.Metadata;
        var labels = Enumerable.Range(0, meta.NumClasses).SelectMany(c => Enumerable.Repeat(c, perClass)).ToArray();
        var request = new GenerationRequest
        {
            Labels = labels, GuidanceScale = setting.GuidanceScale, Steps = setting.Steps, Sampler = setting.Sampler,
            SamplerOptions = SamplerOptions.Images with { Eta = setting.Eta }, Seed = seed, BatchSize = batchSize, Progress = progress,
            Student = setting.Student,
        };
        bool student = pipeline.Route(request).Denoiser.Metadata.Graph == GraphKind.Student;
        var result = pipeline.Generate(request, cancellationToken);
        var px = new float[result.Images.Length];
        Pixels.ToModel(result.ToBytes(), px);
        // a distilled student serves the request with its own sampler (DDIM): the set says so
        string what = student
            ? string.Create(CultureInfo.InvariantCulture, $"the distilled student {result.Graph}: ddim {setting.Steps} steps, guidance {setting.GuidanceScale:0.##}")
            : setting.ToString();
        return new GeneratedSet(new ImageSet(px, labels, meta.Height, meta.Width, $"generated ({what}, seed {seed})", meta.Channels), result.Elapsed.TotalSeconds, result.Graph, student, what);
    }
}
