namespace Diffusion.Runtime.Generation;

/// <summary>
/// A denoising network seen by the sampling loop: an ONNX graph (<see cref="Onnx.DiffusionModel"/>) or any other
/// implementation (tests use exact oracles). It hands out <see cref="IDenoiserBatch"/>es whose buffers are made
/// once and reused for every step, so the loop allocates nothing per step.
/// </summary>
public interface IDenoiser
{
    /// <summary>What the model is: image shape, classes, schedule, prediction type, graph kind.</summary>
    ModelMetadata Metadata { get; }

    /// <summary>True when it reads <see cref="IDenoiserBatch.Scale"/>: the guided graph (guidance inside) and a distilled student (the scale is an input of its network).</summary>
    bool IsGuided { get; }

    /// <summary>
    /// Buffers and bindings for batches of <paramref name="batchSize"/> samples. Each call returns a new, independent
    /// batch (one per generation call and batch size), so one denoiser serves concurrent generations.
    /// </summary>
    IDenoiserBatch CreateBatch(int batchSize);
}

/// <summary>
/// Fixed input and output buffers of one batch size bound to a model. Fill <see cref="X"/>, <see cref="T"/>,
/// <see cref="Y"/> (and <see cref="Scale"/> for the guided graph), call <see cref="Run"/>, read <see cref="Output"/>.
/// Not thread-safe; one per generation.
/// </summary>
public interface IDenoiserBatch : IDisposable
{
    /// <summary>Batch size N.</summary>
    int BatchSize { get; }
    /// <summary>Noisy samples x_t, [N, C, H, W] flattened.</summary>
    Span<float> X { get; }
    /// <summary>Timesteps, [N].</summary>
    Span<long> T { get; }
    /// <summary>Labels, [N] (the null class = NumClasses for unconditional).</summary>
    Span<long> Y { get; }
    /// <summary>Guidance scales, [N] (empty unless the denoiser is guided).</summary>
    Span<float> Scale { get; }
    /// <summary>The model's native prediction after <see cref="Run"/>, [N, C, H, W] flattened.</summary>
    ReadOnlySpan<float> Output { get; }
    /// <summary>Evaluates the model on the current inputs, writing <see cref="Output"/>.</summary>
    void Run();
}
