using System.Security.Cryptography;
using Diffusion.Runtime.Generation;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;

namespace Diffusion.Runtime.Onnx;

/// <summary>
/// One exported ONNX graph (<c>unet.onnx</c> or <c>unet-guided.onnx</c>) loaded into an ONNX Runtime
/// <see cref="InferenceSession"/> that it owns. Loading checks the metadata schema (<see cref="ModelMetadata"/>)
/// and the inputs / outputs: x float [batch, C, H, W], t int64 [batch], y int64 [batch], (+ scale float [batch] for
/// the guided graph), one output float [batch, C, H, W]. <see cref="InferenceSession.Run(RunOptions, IReadOnlyCollection{string}, IReadOnlyCollection{OrtValue}, IReadOnlyCollection{string})"/>
/// is thread-safe, so one model serves concurrent generations; each gets its own <see cref="CreateBatch"/>.
/// On the CPU, large batches run data-parallel (<see cref="CpuParallelism"/>) on one single-threaded session per
/// thread, created on first use.
/// </summary>
public sealed class DiffusionModel : IDenoiser, IDisposable
{
    private readonly InferenceSession _session;
    private readonly Lazy<InferenceSession[]> _workers;

    private DiffusionModel(string path, InferenceSession session, ModelMetadata metadata, string outputName, RuntimeOptions options, string? cachePath)
    {
        Path = path; _session = session; Metadata = metadata; OutputName = outputName; Options = options; OptimizedModelPath = cachePath;
        _workers = new Lazy<InferenceSession[]>(CreateWorkerSessions, LazyThreadSafetyMode.ExecutionAndPublication);
    }

    // One single-threaded session per thread for data-parallel batches: from the optimized cache when there is one
    // (no second optimization), else from the file with the same optimization level.
    private InferenceSession[] CreateWorkerSessions()
    {
        bool cached = OptimizedModelPath is { } c && File.Exists(c);
        var sessions = new InferenceSession[Options.Threads];
        try
        {
            for (int i = 0; i < sessions.Length; i++)
            {
                using var so = CreateSessionOptions(Options, threads: 1);
                if (cached) so.GraphOptimizationLevel = GraphOptimizationLevel.ORT_DISABLE_ALL;
                sessions[i] = new InferenceSession(cached ? OptimizedModelPath! : Path, so);
            }
            return sessions;
        }
        catch
        {
            foreach (var s in sessions) s?.Dispose();
            throw;
        }
    }

    /// <summary>The .onnx file.</summary>
    public string Path { get; }
    /// <inheritdoc/>
    public ModelMetadata Metadata { get; }
    /// <summary>Which graph this is.</summary>
    public GraphKind Graph => Metadata.Graph;
    /// <inheritdoc/>
    public bool IsGuided => Graph != GraphKind.Unet;
    /// <summary>Name of the single output.</summary>
    public string OutputName { get; }
    /// <summary>Options the session was created with.</summary>
    public RuntimeOptions Options { get; }
    /// <summary>The cached optimized graph the session was created from or saved to, or null.</summary>
    public string? OptimizedModelPath { get; }
    /// <summary>The ONNX Runtime session (owned; disposed with the model).</summary>
    public InferenceSession Session => _session;

    /// <summary>Loads and validates a model file.</summary>
    /// <param name="path">The .onnx file.</param>
    /// <param name="options">Session options (CPU, all physical cores, full optimization when null).</param>
    /// <param name="expected">The graph kind the caller needs (e.g. unet-guided.onnx must be guided), or null for either.</param>
    /// <exception cref="InvalidInputException">Missing or unreadable file, not ONNX, not exported by this pipeline,
    /// wrong inputs / outputs, or CUDA asked for and not available. The message names the file.</exception>
    public static DiffusionModel Load(string path, RuntimeOptions? options = null, GraphKind? expected = null)
    {
        options ??= RuntimeOptions.Default;
        options.Validate();
        if (!File.Exists(path)) throw new InvalidInputException($"Model file not found: {path}");
        string? cache = null;
        InferenceSession session;
        using (var so = CreateSessionOptions(options, options.Threads))
        {
            string source = path;
            string? tmp = null;
            if (options.OptimizedModelCacheDirectory is { } dir)
            {
                cache = CachePath(path, dir, options);
                if (File.Exists(cache)) { source = cache; so.GraphOptimizationLevel = GraphOptimizationLevel.ORT_DISABLE_ALL; }
                else
                {
                    Directory.CreateDirectory(dir);
                    tmp = System.IO.Path.Combine(dir, $".{System.IO.Path.GetFileName(cache)}.{Environment.ProcessId}.{Guid.NewGuid():N}.tmp");
                    so.OptimizedModelFilePath = tmp;
                }
            }
            try { session = new InferenceSession(source, so); }
            catch (OnnxRuntimeException e)
            {
                TryDelete(tmp);
                throw new InvalidInputException($"{path}: ONNX Runtime cannot load this file as a model ({OneLine(e.Message)}).", e);
            }
            if (tmp is not null)
            {
                try { File.Move(tmp, cache!, overwrite: true); }
                catch (IOException) { TryDelete(tmp); } // another process won the race; its file is as good
            }
        }
        try
        {
            var meta = ReadMetadata(session, path);
            if (expected is { } g && meta.Graph != g)
                throw new InvalidInputException($"{path}: metadata says graph '{Name(meta.Graph)}'; expected '{Name(g)}' for this file.");
            string output = CheckSignature(session, meta, path);
            return new DiffusionModel(path, session, meta, output, options, cache);
        }
        catch { session.Dispose(); throw; }
    }

    private static string Name(GraphKind g) => ModelMetadata.GraphName(g);

    private static void TryDelete(string? file)
    {
        if (file is null) return;
        try { File.Delete(file); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }

    private static SessionOptions CreateSessionOptions(RuntimeOptions options, int threads)
    {
        var so = new SessionOptions
        {
            GraphOptimizationLevel = options.Optimization,
            IntraOpNumThreads = threads,
            ExecutionMode = ExecutionMode.ORT_SEQUENTIAL,
            LogSeverityLevel = OrtLoggingLevel.ORT_LOGGING_LEVEL_ERROR,
        };
        if (options.ExactInt8) ExactInt8.Apply(so);
        if (options.Device == ExecutionDevice.Cuda)
        {
            try { AppendCuda(so, options); }
            catch { so.Dispose(); throw; }
        }
        return so;
    }

    // The CUDA execution provider with RuntimeOptions' cuDNN search and CUDA graph settings. Checks first that this
    // build has the provider and that its libraries load, so that a missing piece is one line naming it.
    private static void AppendCuda(SessionOptions so, RuntimeOptions options)
    {
        string device = options.DeviceId == 0 ? "cuda" : $"cuda:{options.DeviceId}";
        var available = OrtEnv.Instance().GetAvailableProviders();
        if (!available.Contains("CUDAExecutionProvider"))
            throw new InvalidInputException($"--device {device}: this build's ONNX Runtime has no CUDA execution provider (available: {string.Join(", ", available)}); " +
                "build with 'make build-cuda' (-p:OnnxRuntimeCuda=true, package Microsoft.ML.OnnxRuntime.Gpu, CUDA 13 and cuDNN 9), or use --device cpu.");
        Cuda.EnsureAvailable(options.DeviceId);
        using var cuda = new OrtCUDAProviderOptions();
        cuda.UpdateOptions(new Dictionary<string, string>
        {
            ["device_id"] = options.DeviceId.ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["cudnn_conv_algo_search"] = options.CudnnSearch switch
            {
                CudnnConvSearch.Heuristic => "HEURISTIC",
                CudnnConvSearch.Default => "DEFAULT",
                _ => "EXHAUSTIVE",
            },
            ["enable_cuda_graph"] = options.CudaGraph ? "1" : "0",
        });
        try { so.AppendExecutionProvider_CUDA(cuda); }
        catch (OnnxRuntimeException e)
        {
            throw new InvalidInputException($"--device {device}: the CUDA execution provider failed to start ({OneLine(e.Message)}); check the GPU, CUDA 13 and cuDNN 9, or use --device cpu.", e);
        }
    }

    private static string OneLine(string s) => string.Join(' ', s.Split(['\r', '\n'], StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries));

    private static string CachePath(string path, string dir, RuntimeOptions options)
    {
        string hash;
        using (var fs = File.OpenRead(path)) hash = Convert.ToHexStringLower(SHA256.HashData(fs))[..16];
        string stem = System.IO.Path.GetFileNameWithoutExtension(path);
        return System.IO.Path.Combine(dir, $"{stem}.{hash}.{options.Optimization}.{options.Device}{(options.ExactInt8 ? "" : ".fastint8")}.optimized.onnx".ToLowerInvariant());
    }

    private static ModelMetadata ReadMetadata(InferenceSession session, string path)
    {
        Dictionary<string, string> props;
        // ONNX Runtime's C# API throws NullReferenceException for some corrupt metadata entries (a string it reads back
        // as a null pointer; found by the fuzz tests): a damaged file, not a bug of the caller
        try { props = session.ModelMetadata.CustomMetadataMap; }
        catch (Exception e) when (e is NullReferenceException or OnnxRuntimeException)
        {
            throw new InvalidInputException($"{path}: ONNX Runtime cannot read this model's metadata ({OneLine(e.Message)}); the file is damaged.", e);
        }
        if (!props.Keys.Any(k => k.StartsWith(ModelMetadata.Prefix, StringComparison.Ordinal)))
            throw new InvalidInputException($"{path}: no '{ModelMetadata.Prefix}*' metadata; this ONNX file was not exported by this pipeline (foreign model).");
        return ModelMetadata.FromProperties(props, path);
    }

    // Checks names, element types and shapes of the inputs and the output; returns the output name.
    private static string CheckSignature(InferenceSession session, ModelMetadata meta, string path)
    {
        var want = UNetSignature.Inputs(meta.Graph);
        var have = session.InputMetadata;
        var missing = want.Where(n => !have.ContainsKey(n)).ToList();
        var extra = have.Keys.Where(n => !want.Contains(n)).ToList();
        if (missing.Count > 0 || extra.Count > 0)
            throw new InvalidInputException($"{path}: inputs [{string.Join(", ", have.Keys)}]; the {Name(meta.Graph)} graph needs exactly [{string.Join(", ", want)}]" +
                (missing.Count > 0 ? $" (missing {string.Join(", ", missing)})" : "") + (extra.Count > 0 ? $" (unexpected {string.Join(", ", extra)})" : "") + ".");
        int[] image = [meta.Channels, meta.Height, meta.Width];
        CheckTensor(path, "input", UNetSignature.X, have[UNetSignature.X], TensorElementType.Float, image);
        CheckTensor(path, "input", UNetSignature.T, have[UNetSignature.T], TensorElementType.Int64, []);
        CheckTensor(path, "input", UNetSignature.Y, have[UNetSignature.Y], TensorElementType.Int64, []);
        if (meta.Graph != GraphKind.Unet) CheckTensor(path, "input", UNetSignature.Scale, have[UNetSignature.Scale], TensorElementType.Float, []);
        if (session.OutputMetadata.Count != 1)
            throw new InvalidInputException($"{path}: {session.OutputMetadata.Count} outputs [{string.Join(", ", session.OutputMetadata.Keys)}]; expected one output [batch, {meta.Channels}, {meta.Height}, {meta.Width}].");
        var (name, node) = session.OutputMetadata.First();
        CheckTensor(path, "output", name, node, TensorElementType.Float, image);
        return name;
    }

    // A tensor of the given element type and shape [batch, ...rest], with a free batch dimension.
    private static void CheckTensor(string path, string kind, string name, NodeMetadata node, TensorElementType type, int[] rest)
    {
        string shape = $"[batch{string.Concat(rest.Select(d => ", " + d))}]";
        string what = $"{path}: {kind} '{name}'";
        if (!node.IsTensor) throw new InvalidInputException($"{what} is a {node.OnnxValueType}; expected a {type} tensor {shape}.");
        if (node.ElementDataType != type) throw new InvalidInputException($"{what} has element type {node.ElementDataType}; expected {type} {shape}.");
        var dims = node.Dimensions;
        string got = $"[{string.Join(", ", dims.Select((d, i) => d >= 0 ? d.ToString(System.Globalization.CultureInfo.InvariantCulture) : (node.SymbolicDimensions.ElementAtOrDefault(i) is { Length: > 0 } s ? s : "?")))}]";
        if (dims.Length != rest.Length + 1) throw new InvalidInputException($"{what} has shape {got} (rank {dims.Length}); expected {shape}.");
        if (dims[0] >= 0) throw new InvalidInputException($"{what} has a fixed batch dimension {dims[0]}; expected a dynamic 'batch' dimension, shape {shape}.");
        for (int i = 0; i < rest.Length; i++)
            if (dims[i + 1] >= 0 && dims[i + 1] != rest[i])
                throw new InvalidInputException($"{what} has shape {got}; expected {shape} (from the metadata's image shape).");
    }

    /// <summary>U-Net rows per image: 2 for the guided graph (conditional and unconditional), 1 for the plain one and a student.</summary>
    public int RowsPerImage => Graph == GraphKind.Guided ? 2 : 1;

    /// <summary>How a batch of <paramref name="batchSize"/> images runs under <see cref="Options"/>: <see cref="CpuParallelism.IntraOp"/> or <see cref="CpuParallelism.DataParallel"/>.</summary>
    public CpuParallelism ParallelismFor(int batchSize)
    {
        int threads = Options.Threads, rows = batchSize * RowsPerImage;
        if (Options.Device != ExecutionDevice.Cpu || threads < 2 || batchSize < 2) return CpuParallelism.IntraOp;
        return Options.Parallelism switch
        {
            CpuParallelism.DataParallel => CpuParallelism.DataParallel,
            CpuParallelism.Auto when rows >= threads * RuntimeOptions.AutoMinRowsPerWorker => CpuParallelism.DataParallel,
            _ => CpuParallelism.IntraOp,
        };
    }

    /// <inheritdoc/>
    public IDenoiserBatch CreateBatch(int batchSize)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (batchSize < 1) throw new InvalidInputException($"Batch size = {batchSize}; expected at least 1.");
        if (Options.Device == ExecutionDevice.Cuda) return new CudaBatch(this, batchSize);
        if (ParallelismFor(batchSize) == CpuParallelism.IntraOp) return new OnnxBatch(this, batchSize);
        int chunkRows = Options.ChunkRows > 0 ? Options.ChunkRows : RuntimeOptions.DefaultChunkRows;
        var plan = DataParallelBatch.Plan(batchSize, Options.Threads, Math.Max(1, chunkRows / RowsPerImage));
        return new DataParallelBatch(this, _workers.Value, batchSize, plan);
    }

    private bool _disposed;
    internal bool IsDisposed => _disposed;

    /// <summary>Disposes the sessions.</summary>
    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        _session.Dispose();
        if (_workers.IsValueCreated) foreach (var s in _workers.Value) s.Dispose();
    }

    /// <summary>
    /// Buffers of one batch size on the CPU: managed arrays pinned for the batch's lifetime by
    /// <see cref="OrtValue.CreateTensorValueFromMemory{T}(T[], long[])"/>, bound once to an <see cref="OrtIoBinding"/>;
    /// <see cref="InferenceSession.RunWithBinding(RunOptions, OrtIoBinding)"/> makes no managed allocation per call
    /// (<c>InferenceSession.Run</c> with OrtValue lists allocates name and handle arrays on every call). CUDA batches
    /// are <see cref="CudaBatch"/>.
    /// </summary>
    private sealed class OnnxBatch : BatchBuffers, ICancellableBatch
    {
        private readonly DiffusionModel _model;
        private readonly List<OrtValue> _inputs = [], _outputs = [];
        private readonly RunOptions _runOptions = new();
        private readonly OrtIoBinding? _binding;

        public OnnxBatch(DiffusionModel model, int n) : base(model.Metadata, model.IsGuided, n)
        {
            _model = model;
            var m = model.Metadata;
            long[] image = [n, m.Channels, m.Height, m.Width], vec = [n];
            var inputNames = UNetSignature.Inputs(model.Graph);
            try
            {
                _inputs.Add(OrtValue.CreateTensorValueFromMemory(_x, image));
                _inputs.Add(OrtValue.CreateTensorValueFromMemory(_t, vec));
                _inputs.Add(OrtValue.CreateTensorValueFromMemory(_y, vec));
                if (model.IsGuided) _inputs.Add(OrtValue.CreateTensorValueFromMemory(_scale, vec));
                _outputs.Add(OrtValue.CreateTensorValueFromMemory(_out, image));
                _binding = model._session.CreateIoBinding();
                for (int i = 0; i < _inputs.Count; i++) _binding.BindInput(inputNames[i], _inputs[i]);
                _binding.BindOutput(model.OutputName, _outputs[0]);
            }
            catch { Dispose(); throw; }
        }

        public override void Run()
        {
            ObjectDisposedException.ThrowIf(_model._disposed, _model);
            _model._session.RunWithBinding(_runOptions, _binding!);
        }

        public void Cancel() => _runOptions.Terminate = true;

        public override void Dispose()
        {
            _binding?.Dispose();
            foreach (var v in _inputs) v.Dispose();
            foreach (var v in _outputs) v.Dispose();
            _runOptions.Dispose();
        }
    }
}
