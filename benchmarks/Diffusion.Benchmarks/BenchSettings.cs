using System.Globalization;
using Diffusion.Runtime.Samplers;

namespace Diffusion.Benchmarks;

/// <summary>Which suite runs: the full one (<c>make bench</c>), a short one (<c>make bench-quick</c>) or a smoke run for CI.</summary>
public enum Suite
{
    /// <summary>Every case at full length (tens of minutes on 2 cores).</summary>
    Full,
    /// <summary>Fewer parameters and BenchmarkDotNet ShortRun-like jobs (under 5 minutes).</summary>
    Quick,
    /// <summary>One iteration of tiny cases: proves the suite runs (under 1 minute).</summary>
    Smoke,
}

/// <summary>A sampler at a number of steps, as a benchmark parameter ("dpm++ 20"), or a distilled student ("student 4").</summary>
/// <param name="Kind">Sampler (a student's is DDIM, the one it was distilled for).</param>
/// <param name="Steps">Sampling steps.</param>
/// <param name="Student">The folder's student for <paramref name="Steps"/> serves it (one pass per step); else the teacher's graphs.</param>
public sealed record SamplerCase(SamplerKind Kind, int Steps, bool Student = false)
{
    /// <summary>Name of the student cases' sampler column.</summary>
    public const string StudentName = "student";

    /// <summary>A case of the folder's <paramref name="steps"/>-step student.</summary>
    public static SamplerCase OfStudent(int steps) => new(SamplerKind.Ddim, steps, Student: true);

    /// <summary>"ddpm 1000", "ddim 20", "dpm++ 10", "student 4".</summary>
    public override string ToString() => string.Create(CultureInfo.InvariantCulture, $"{(Student ? StudentName : SamplerFactory.Name(Kind))} {Steps}");
}

/// <summary>
/// Sizes of one suite. BenchmarkDotNet runs in this process (in-process toolchain), so the benchmark classes read
/// the settings of the running suite from <see cref="Current"/> in their <c>[ParamsSource]</c> and setup methods.
/// </summary>
public sealed record BenchSettings
{
    /// <summary>Settings of the suite being run.</summary>
    public static BenchSettings Current { get; set; } = new();

    /// <summary>Which suite.</summary>
    public Suite Suite { get; init; } = Suite.Full;
    /// <summary>Model folder with unet.onnx, unet-guided.onnx and model-card.json.</summary>
    public string ModelDir { get; init; } = "";
    /// <summary>Training steps T of the model (DDPM runs at T steps).</summary>
    public int Timesteps { get; init; } = 1000;
    /// <summary>"All cores": intra-op threads for ONNX Runtime and torch.set_num_threads.</summary>
    public int AllThreads { get; init; } = Environment.ProcessorCount;
    /// <summary>Batch sizes of the one-step benchmark.</summary>
    public int[] StepBatches { get; init; } = [1, 16, 64, 256];
    /// <summary>Batch sizes of the thread-scaling benchmark.</summary>
    public int[] ThreadBatches { get; init; } = [1, 64];
    /// <summary>Batch sizes of the parallelism benchmark.</summary>
    public int[] ParallelismBatches { get; init; } = [64];
    /// <summary>
    /// True when the model folder has its int8 graphs (<c>unet-int8.onnx</c>, <c>unet-guided-int8.onnx</c>, written by
    /// export): the step benchmark times them beside the float32 graphs; false filters those cases out.
    /// </summary>
    public bool HasInt8 { get; init; }
    /// <summary>Images generated end to end (100 per class for 1,000).</summary>
    public int Images { get; init; } = 1000;
    /// <summary>
    /// Images per model call in the end-to-end benchmark: 32 guided images are one U-Net call on 64, near the
    /// lowest per-image cost in the step benchmark (larger batches leave the caches); GenerateTuningBenchmarks measures others.
    /// </summary>
    public int GenerateBatch { get; init; } = 32;
    /// <summary>Batch sizes of the generation tuning benchmark (DPM-Solver++ 20).</summary>
    public int[] TuningBatches { get; init; } = [125];
    /// <summary>Guidance scale of the end-to-end benchmark (not 1, so unet-guided.onnx runs).</summary>
    public float GuidanceScale { get; init; } = 3f;
    /// <summary>Samplers of the end-to-end benchmark (DDPM at T is benchmarked separately: one iteration).</summary>
    public SamplerCase[] Samplers { get; init; } = [new(SamplerKind.Ddim, 20), new(SamplerKind.DpmSolverPlusPlus, 10), new(SamplerKind.DpmSolverPlusPlus, 20)];
    /// <summary>Step counts of the model folder's distilled students: the end-to-end benchmark times each beside the samplers.</summary>
    public int[] StudentSteps { get; init; } = [];
    /// <summary>Steps of the DDPM end-to-end case (T for the full suite), 0 to skip it.</summary>
    public int DdpmSteps { get; init; } = 1000;
    /// <summary>
    /// Images of the DDPM case. DDPM at T = 1000 steps on 1,000 guided digits is about 50x DPM-Solver++ 20 (tens of
    /// minutes here), so the full suite times 100 of them; the summary scales the time to the 1,000 of the other rows
    /// (images are independent batches, so time is linear in their number).
    /// </summary>
    public int DdpmImages { get; init; } = 100;
    /// <summary>Steps of the allocation benchmark (allocated bytes must not grow with them).</summary>
    public int[] AllocationSteps { get; init; } = [1, 10, 100];
    /// <summary>Side of the square matrices of the GEMM peak measurement.</summary>
    public int GemmSize { get; init; } = 2048;
    /// <summary>Folder for BenchmarkDotNet's reports and the run's own JSON files.</summary>
    public string ResultsDir { get; init; } = "benchmarks/results/full";

    /// <summary>Settings of <paramref name="suite"/> for a model with <paramref name="timesteps"/> training steps.</summary>
    public static BenchSettings For(Suite suite, string modelDir, int timesteps, int threads, string resultsDir) => suite switch
    {
        Suite.Full => new BenchSettings
        {
            Suite = suite, ModelDir = modelDir, Timesteps = timesteps, AllThreads = threads, ResultsDir = resultsDir,
            DdpmSteps = timesteps,
        },
        Suite.Quick => new BenchSettings
        {
            Suite = suite, ModelDir = modelDir, Timesteps = timesteps, AllThreads = threads, ResultsDir = resultsDir,
            StepBatches = [1, 64, 256], ThreadBatches = [64], ParallelismBatches = [64], Images = 100, TuningBatches = [32],
            Samplers = [new(SamplerKind.Ddim, 20), new(SamplerKind.DpmSolverPlusPlus, 10), new(SamplerKind.DpmSolverPlusPlus, 20)],
            DdpmSteps = Math.Min(100, timesteps), AllocationSteps = [1, 20], GemmSize = 1024,
        },
        _ => new BenchSettings
        {
            Suite = suite, ModelDir = modelDir, Timesteps = timesteps, AllThreads = threads, ResultsDir = resultsDir,
            StepBatches = [1, 4], ThreadBatches = [4], ParallelismBatches = [4], Images = 10, GenerateBatch = 5, TuningBatches = [5],
            Samplers = [new(SamplerKind.DpmSolverPlusPlus, 2)], DdpmSteps = 0, AllocationSteps = [1, 3], GemmSize = 256,
        },
    };
}
