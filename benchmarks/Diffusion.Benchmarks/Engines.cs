using Diffusion.Export;
using Diffusion.Runtime;
using Diffusion.Runtime.Generation;
using Diffusion.Runtime.Onnx;
using Diffusion.Train.Model;
using GraphOptimizationLevel = Microsoft.ML.OnnxRuntime.GraphOptimizationLevel;
using TorchSharp;
using static TorchSharp.torch;

namespace Diffusion.Benchmarks;

/// <summary>The inputs of one denoising step, the same for both engines: x ~ N(0, I), t = T/2, y = i mod 10, scale 3.</summary>
public sealed class StepInputs
{
    /// <summary>Guidance scale of guided steps.</summary>
    public const float Scale = 3f;

    /// <summary>Makes inputs for <paramref name="n"/> images of <paramref name="meta"/>'s shape (seeded, so both engines see the same numbers).</summary>
    public StepInputs(ModelMetadata meta, int n)
    {
        int size = meta.Channels * meta.Height * meta.Width;
        N = n; Shape = [n, meta.Channels, meta.Height, meta.Width]; NullClass = meta.NullClass;
        X = new float[n * size];
        GaussianNoise.FillBatch(12345, 0, 0, size, X);
        T = Enumerable.Repeat((long)meta.Timesteps / 2, n).ToArray();
        Y = Enumerable.Range(0, n).Select(i => (long)(i % meta.NumClasses)).ToArray();
    }

    /// <summary>Batch size.</summary>
    public int N { get; }
    /// <summary>[N, C, H, W].</summary>
    public long[] Shape { get; }
    /// <summary>Noisy images, [N, C, H, W] flattened.</summary>
    public float[] X { get; }
    /// <summary>Timesteps, [N].</summary>
    public long[] T { get; }
    /// <summary>Labels, [N].</summary>
    public long[] Y { get; }
    /// <summary>The null class (unconditional label).</summary>
    public int NullClass { get; }
}

/// <summary>One model call through the runtime: <see cref="DiffusionModel"/> with a reused <see cref="IDenoiserBatch"/> (IO binding, no allocation).</summary>
public sealed class OrtStep : IDisposable
{
    private readonly DiffusionModel _model;
    private readonly IDenoiserBatch _batch;

    /// <summary>Loads <paramref name="file"/> (unet.onnx or unet-guided.onnx) with <paramref name="options"/> and binds a batch of <paramref name="inputs"/>.</summary>
    public OrtStep(string file, StepInputs inputs, RuntimeOptions options)
    {
        _model = DiffusionModel.Load(file, options);
        _batch = _model.CreateBatch(inputs.N);
        inputs.X.CopyTo(_batch.X);
        inputs.T.CopyTo(_batch.T);
        inputs.Y.CopyTo(_batch.Y);
        _batch.Scale.Fill(StepInputs.Scale);
    }

    /// <summary>Runs the graph once.</summary>
    public void Run() => _batch.Run();

    /// <summary>Output of the last run, [N, C, H, W] flattened.</summary>
    public ReadOnlySpan<float> Output => _batch.Output;

    /// <summary>Runtime options for <paramref name="threads"/> intra-op threads (everything else the runtime's default).</summary>
    public static RuntimeOptions Options(int threads, GraphOptimizationLevel level = GraphOptimizationLevel.ORT_ENABLE_ALL)
        => new() { IntraOpThreads = threads, Optimization = level };

    /// <inheritdoc/>
    public void Dispose() { _batch.Dispose(); _model.Dispose(); }
}

/// <summary>
/// The same step run eagerly in TorchSharp (what a PyTorch user runs): eval mode, no_grad, torch.set_num_threads,
/// inputs as tensors made once; the output is copied back to managed memory as the runtime's is. The guided step
/// mirrors unet-guided.onnx: one forward on the doubled batch ([x; x], [y; null]) then uncond + s (cond - uncond).
/// </summary>
public sealed class TorchStep : IDisposable
{
    private readonly UNet _model;
    private readonly bool _guided;
    private readonly Tensor _x, _t, _y, _null, _scale;
    private readonly float[] _out;

    /// <summary>Builds the U-Net from <paramref name="modelDir"/> (weights of its unet.onnx) and sets torch's threads.</summary>
    public TorchStep(string modelDir, StepInputs inputs, int threads, bool guided)
    {
        torch.set_num_threads(threads);
        _model = BenchModel.LoadTorch(modelDir);
        _guided = guided;
        _x = tensor(inputs.X).reshape(inputs.Shape);
        _t = tensor(inputs.T);
        _y = tensor(inputs.Y);
        _null = full([inputs.N], inputs.NullClass, ScalarType.Int64);
        _scale = full([inputs.N, 1, 1, 1], StepInputs.Scale, ScalarType.Float32);
        _out = new float[inputs.X.Length];
    }

    /// <summary>Runs the step once.</summary>
    public void Run()
    {
        using var noGrad = torch.no_grad();
        using var scope = NewDisposeScope();
        Tensor result;
        if (!_guided) result = _model.forward(_x, _t, _y);
        else
        {
            var both = _model.forward(cat([_x, _x], 0), cat([_t, _t], 0), cat([_y, _null], 0));
            var halves = both.chunk(2, 0);                                  // cond, uncond
            result = halves[1] + _scale * (halves[0] - halves[1]);          // Guidance.Combine
        }
        result.data<float>().CopyTo(_out);
    }

    /// <summary>Output of the last run, [N, C, H, W] flattened.</summary>
    public ReadOnlySpan<float> Output => _out;

    /// <inheritdoc/>
    public void Dispose()
    {
        foreach (var t in new[] { _x, _t, _y, _null, _scale }) t.Dispose();
        _model.Dispose();
    }
}
