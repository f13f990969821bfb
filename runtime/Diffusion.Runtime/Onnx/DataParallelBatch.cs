using System.Runtime.ExceptionServices;
using Diffusion.Runtime.Generation;
using Microsoft.ML.OnnxRuntime;

namespace Diffusion.Runtime.Onnx;

/// <summary>One model call's share of a batch: images [Offset, Offset + Count).</summary>
/// <param name="Offset">First image.</param>
/// <param name="Count">Images in the call.</param>
public readonly record struct Chunk(int Offset, int Count);

/// <summary>
/// A batch run data-parallel on the CPU (<see cref="CpuParallelism.DataParallel"/>): worker w owns one
/// single-threaded session and a contiguous share of the images, cut into calls of a few images; the caller's thread
/// is worker 0 and the others are threads this batch starts and keeps for its lifetime. Every call is bound once to
/// a slice of the batch's buffers, so a step allocates nothing: <see cref="Run"/> wakes the workers, runs worker 0's
/// calls and waits for the rest.
/// </summary>
internal sealed class DataParallelBatch : BatchBuffers, ICancellableBatch
{
    private readonly DiffusionModel _model;
    private readonly Chunk[][] _plan;
    private readonly InferenceSession[] _sessions;
    private readonly OrtIoBinding[][] _bindings;
    private readonly RunOptions[] _runOptions;
    private readonly List<OrtValue> _values = [];
    private readonly Thread[] _threads;
    private readonly SemaphoreSlim[] _go;
    private readonly CountdownEvent _done;
    private readonly Exception?[] _errors;
    private volatile bool _stopping;

    /// <summary>
    /// Splits <paramref name="n"/> images over at most <paramref name="workers"/> workers (contiguous shares whose
    /// sizes differ by at most one) and each share into calls of at most <paramref name="chunk"/> images of nearly
    /// equal size.
    /// </summary>
    /// <returns>Per worker, its calls in order; never an empty worker.</returns>
    public static Chunk[][] Plan(int n, int workers, int chunk)
    {
        if (n < 1 || workers < 1 || chunk < 1) throw new ArgumentOutOfRangeException(nameof(n), $"n = {n}, workers = {workers}, chunk = {chunk}; expected all >= 1.");
        workers = Math.Min(workers, n);
        var plan = new Chunk[workers][];
        int offset = 0;
        for (int w = 0; w < workers; w++)
        {
            int share = n / workers + (w < n % workers ? 1 : 0);
            int calls = (share + chunk - 1) / chunk;
            plan[w] = new Chunk[calls];
            for (int c = 0; c < calls; c++)
            {
                int size = share / calls + (c < share % calls ? 1 : 0);
                plan[w][c] = new Chunk(offset, size);
                offset += size;
            }
        }
        return plan;
    }

    public DataParallelBatch(DiffusionModel model, InferenceSession[] sessions, int n, Chunk[][] plan) : base(model.Metadata, model.IsGuided, n)
    {
        _model = model; _plan = plan;
        var m = model.Metadata;
        int size = m.Channels * m.Height * m.Width;
        int workers = plan.Length;
        _sessions = sessions[..workers];
        _bindings = new OrtIoBinding[workers][];
        _runOptions = new RunOptions[workers];
        _threads = new Thread[workers - 1];
        _go = new SemaphoreSlim[workers];
        _errors = new Exception?[workers];
        _done = new CountdownEvent(1);
        try
        {
            var mem = OrtMemoryInfo.DefaultInstance;
            for (int w = 0; w < workers; w++)
            {
                _runOptions[w] = new RunOptions();
                _go[w] = new SemaphoreSlim(0);
                _bindings[w] = new OrtIoBinding[plan[w].Length];
                for (int c = 0; c < plan[w].Length; c++)
                {
                    var (off, count) = plan[w][c];
                    long[] image = [count, m.Channels, m.Height, m.Width], vec = [count];
                    var b = _bindings[w][c] = _sessions[w].CreateIoBinding();
                    b.BindInput(UNetSignature.X, Value(OrtValue.CreateTensorValueFromMemory(mem, _x.AsMemory(off * size, count * size), image)));
                    b.BindInput(UNetSignature.T, Value(OrtValue.CreateTensorValueFromMemory(mem, _t.AsMemory(off, count), vec)));
                    b.BindInput(UNetSignature.Y, Value(OrtValue.CreateTensorValueFromMemory(mem, _y.AsMemory(off, count), vec)));
                    if (model.IsGuided) b.BindInput(UNetSignature.Scale, Value(OrtValue.CreateTensorValueFromMemory(mem, _scale.AsMemory(off, count), vec)));
                    b.BindOutput(model.OutputName, Value(OrtValue.CreateTensorValueFromMemory(mem, _out.AsMemory(off * size, count * size), image)));
                }
            }
            for (int w = 1; w < workers; w++)
            {
                _threads[w - 1] = new Thread(WorkerLoop) { IsBackground = true, Name = $"diffusion-worker-{w}" };
                _threads[w - 1].Start(w);
            }
        }
        catch { Dispose(); throw; }
    }

    private OrtValue Value(OrtValue v) { _values.Add(v); return v; }

    /// <summary>The calls of each worker (for tests and benchmarks).</summary>
    public IReadOnlyList<IReadOnlyList<Chunk>> Chunks => _plan;

    public override void Run()
    {
        ObjectDisposedException.ThrowIf(_model.IsDisposed, _model);
        int workers = _plan.Length;
        _done.Reset(workers - 1);
        for (int w = 1; w < workers; w++) _go[w].Release();
        RunShare(0);
        if (workers > 1) _done.Wait();
        foreach (var e in _errors)
            if (e is not null)
            {
                Array.Clear(_errors);
                ExceptionDispatchInfo.Capture(e).Throw();
            }
    }

    private void RunShare(int w)
    {
        try
        {
            foreach (var b in _bindings[w]) _sessions[w].RunWithBinding(_runOptions[w], b);
        }
        catch (Exception e) { _errors[w] = e; }
    }

    private void WorkerLoop(object? state)
    {
        int w = (int)state!;
        while (true)
        {
            _go[w].Wait();
            if (_stopping) return;
            RunShare(w);
            _done.Signal();
        }
    }

    public void Cancel()
    {
        foreach (var ro in _runOptions) if (ro is not null) ro.Terminate = true;
    }

    public override void Dispose()
    {
        if (_stopping) return;
        _stopping = true;
        for (int i = 0; i < _threads.Length; i++)
            if (_threads[i] is { } t) { _go[i + 1].Release(); t.Join(); }
        foreach (var row in _bindings) if (row is not null) foreach (var b in row) b?.Dispose();
        foreach (var v in _values) v.Dispose();
        foreach (var ro in _runOptions) ro?.Dispose();
        foreach (var g in _go) g?.Dispose();
        _done.Dispose();
    }
}
