using Diffusion.Runtime.Generation;

namespace Diffusion.Runtime.Onnx;

/// <summary>
/// The managed buffers of one batch of N images, made once: x [N, C, H, W], t [N], y [N], scale [N] (guided graph
/// only; empty otherwise) and the output [N, C, H, W], all flattened. The ONNX Runtime batches bind them (whole or
/// in slices) for their lifetime.
/// </summary>
internal abstract class BatchBuffers : IDenoiserBatch
{
    protected readonly float[] _x, _scale, _out;
    protected readonly long[] _t, _y;

    protected BatchBuffers(ModelMetadata m, bool guided, int n)
    {
        int size = m.Channels * m.Height * m.Width;
        _x = new float[n * size]; _out = new float[n * size];
        _t = new long[n]; _y = new long[n];
        _scale = guided ? new float[n] : [];
        BatchSize = n;
    }

    public int BatchSize { get; }
    public Span<float> X => _x;
    public Span<long> T => _t;
    public Span<long> Y => _y;
    public Span<float> Scale => _scale;
    public ReadOnlySpan<float> Output => _out;

    public abstract void Run();
    public abstract void Dispose();
}
