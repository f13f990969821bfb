using Microsoft.ML.OnnxRuntime;

namespace Diffusion.Runtime.Onnx;

/// <summary>Where models run.</summary>
public enum ExecutionDevice
{
    /// <summary>ONNX Runtime's CPU execution provider (always available).</summary>
    Cpu,
    /// <summary>
    /// The CUDA execution provider: needs the CUDA build (<c>make build-cuda</c>, Microsoft.ML.OnnxRuntime.Gpu), an NVIDIA
    /// GPU, the CUDA 13 runtime, cuBLAS 13 and cuDNN 9 (<see cref="Onnx.Cuda.Required"/>).
    /// </summary>
    Cuda,
}

/// <summary>How one model call uses the CPU's cores (<see cref="RuntimeOptions.Parallelism"/>).</summary>
public enum CpuParallelism
{
    /// <summary>
    /// <see cref="DataParallel"/> for batches of at least <see cref="RuntimeOptions.AutoMinRowsPerWorker"/> U-Net rows
    /// per thread on the CPU, <see cref="IntraOp"/> otherwise (small batches, one thread, CUDA).
    /// </summary>
    Auto,
    /// <summary>One session whose operators are parallelised over all threads (ONNX Runtime's intra-op thread pool); one call per batch.</summary>
    IntraOp,
    /// <summary>
    /// One single-threaded session per thread. A batch is cut into one contiguous share per thread and each share into
    /// calls of at most <see cref="RuntimeOptions.ChunkRows"/> U-Net rows; the shares run concurrently. Faster than
    /// <see cref="IntraOp"/> for large batches on the CPU: no operator waits for a thread-pool barrier, the
    /// single-threaded kernels (normalisation, layout reorders) run on every core, and a chunk's activations stay in
    /// the core's cache. CPU only.
    /// </summary>
    DataParallel,
}

/// <summary>Which graphs of a model folder <see cref="Generation.DiffusionPipeline.Load"/> runs (<see cref="RuntimeOptions.Precision"/>).</summary>
public enum PrecisionMode
{
    /// <summary>
    /// The int8 graphs on the CPU when the folder has them for every float32 graph it has (and they were quantized
    /// from those files), the float32 graphs otherwise and always on CUDA.
    /// </summary>
    Auto,
    /// <summary><c>unet.onnx</c> and <c>unet-guided.onnx</c>: the exported weights, bit-for-bit the TorchSharp model's math.</summary>
    Float32,
    /// <summary>
    /// <c>unet-int8.onnx</c> and <c>unet-guided-int8.onnx</c> (written by <c>export</c>): int8 convolutions, about 1.5x
    /// faster per step on CPUs with VNNI; the model card states the per-step difference from float32. CPU only.
    /// </summary>
    Int8,
}

/// <summary>How the CUDA execution provider picks a cuDNN convolution algorithm (<see cref="RuntimeOptions.CudnnSearch"/>).</summary>
public enum CudnnConvSearch
{
    /// <summary>
    /// Times every algorithm the first time a shape is seen and keeps the fastest (ONNX Runtime's default). The U-Net's
    /// shapes are fixed for a batch, so the search runs once per batch size and every later step uses its winner.
    /// </summary>
    Exhaustive,
    /// <summary>cuDNN's heuristics, no timing: a faster first step, possibly slower later ones.</summary>
    Heuristic,
    /// <summary>cuDNN's default algorithm (IMPLICIT_PRECOMP_GEMM), no search.</summary>
    Default,
}

/// <summary>How ONNX Runtime sessions are created.</summary>
public sealed record RuntimeOptions
{
    /// <summary>CPU, all physical cores, full graph optimization, no cache.</summary>
    public static RuntimeOptions Default { get; } = new();

    /// <summary>Execution device.</summary>
    public ExecutionDevice Device { get; init; } = ExecutionDevice.Cpu;
    /// <summary>CUDA device ordinal.</summary>
    public int DeviceId { get; init; }
    /// <summary>CUDA: how cuDNN picks convolution algorithms; <see cref="CudnnConvSearch.Exhaustive"/> by default (fixed shapes).</summary>
    public CudnnConvSearch CudnnSearch { get; init; } = CudnnConvSearch.Exhaustive;
    /// <summary>
    /// CUDA: capture each batch size's U-Net call as a CUDA graph on its first run and replay it for every later step
    /// (ONNX Runtime's <c>enable_cuda_graph</c>; one graph per batch size through the <c>gpu_graph_id</c> run option).
    /// Saves the per-kernel launch cost, which dominates at small batches. Off by default: it needs every node on the
    /// CUDA provider and has not been run on a GPU in this repository (runtime/README.md, "CUDA").
    /// </summary>
    public bool CudaGraph { get; init; }
    /// <summary>Intra-op threads; 0 = physical cores (<see cref="Hardware.PhysicalCores"/>).</summary>
    public int IntraOpThreads { get; init; }
    /// <summary>How a model call uses the threads (CPU): <see cref="CpuParallelism.Auto"/> by default.</summary>
    public CpuParallelism Parallelism { get; init; } = CpuParallelism.Auto;
    /// <summary>
    /// U-Net rows per model call of a data-parallel worker (the guided graph runs two rows per image); 0 = the
    /// measured default, <see cref="DefaultChunkRows"/>.
    /// </summary>
    public int ChunkRows { get; init; }
    /// <summary>Float32 or int8 graphs of a model folder: <see cref="PrecisionMode.Auto"/> (int8 on the CPU when present) by default.</summary>
    public PrecisionMode Precision { get; init; } = PrecisionMode.Auto;
    /// <summary>
    /// Int8 graphs compute exactly on x86 CPUs without VNNI (<see cref="ExactInt8.Apply"/>): ONNX Runtime's fast
    /// u8 x s8 kernel there adds pairs of products in saturating 16-bit integers and silently clips large sums, so the
    /// same int8 graph gives other numbers on such a CPU than on one with VNNI (measured on an AVX2-only AMD EPYC: the
    /// Fashion-MNIST release graph's per-step difference from float32 went from 0.029 to 0.067). On by default; off
    /// trades that for speed on those CPUs only (no effect where VNNI is present).
    /// </summary>
    public bool ExactInt8 { get; init; } = true;
    /// <summary>Rows per call when <see cref="ChunkRows"/> is 0 (benchmarks/README.md: the chunk sweep).</summary>
    public const int DefaultChunkRows = 16;
    /// <summary>Under <see cref="CpuParallelism.Auto"/>, the least U-Net rows per thread that switch a batch to data-parallel.</summary>
    public const int AutoMinRowsPerWorker = 8;
    /// <summary>Threads used: <see cref="IntraOpThreads"/>, or the physical cores when 0.</summary>
    public int Threads => IntraOpThreads > 0 ? IntraOpThreads : Hardware.PhysicalCores;
    /// <summary>Graph optimization level (default: all, including layout and fusion optimizations).</summary>
    public GraphOptimizationLevel Optimization { get; init; } = GraphOptimizationLevel.ORT_ENABLE_ALL;
    /// <summary>
    /// Folder for optimized models, or null. When set, the first load saves ONNX Runtime's optimized graph as
    /// <c>{name}.{sha256 of the file, 16 hex}.{level}.{device}.optimized.onnx</c> and later loads of the same file
    /// start from it (skipping optimization). The optimized graph can be specific to this machine's CPU: keep the
    /// cache local.
    /// </summary>
    public string? OptimizedModelCacheDirectory { get; init; }

    /// <summary>Checks values.</summary>
    /// <exception cref="InvalidInputException">Negative threads or device id.</exception>
    public void Validate()
    {
        if (IntraOpThreads < 0) throw new InvalidInputException($"Threads = {IntraOpThreads}; expected 0 (all physical cores) or more.");
        if (DeviceId < 0) throw new InvalidInputException($"CUDA device id = {DeviceId}; expected 0 or more.");
        if (!Enum.IsDefined(Device)) throw new InvalidInputException($"Device {Device} is unknown; expected cpu or cuda.");
        if (!Enum.IsDefined(Parallelism)) throw new InvalidInputException($"Parallelism {Parallelism} is unknown; expected auto, intra-op or data-parallel.");
        if (ChunkRows < 0) throw new InvalidInputException($"Chunk = {ChunkRows} rows; expected 0 (default, {DefaultChunkRows}) or more.");
        if (!Enum.IsDefined(CudnnSearch)) throw new InvalidInputException($"cuDNN search {CudnnSearch} is unknown; expected exhaustive, heuristic or default.");
        if (CudaGraph && Device != ExecutionDevice.Cuda) throw new InvalidInputException("CUDA graphs need --device cuda.");
        if (!Enum.IsDefined(Precision)) throw new InvalidInputException($"Precision {Precision} is unknown; expected auto, float32 or int8.");
        if (Device == ExecutionDevice.Cuda && Precision == PrecisionMode.Int8)
            throw new InvalidInputException("Precision int8 is a CPU path (QLinearConv); use auto or float32 with --device cuda.");
        if (Device == ExecutionDevice.Cuda && Parallelism == CpuParallelism.DataParallel)
            throw new InvalidInputException("Parallelism data-parallel is a CPU mode; use auto or intra-op with --device cuda.");
    }

    /// <summary>Parses "auto", "intra-op" or "data-parallel".</summary>
    /// <exception cref="InvalidInputException">Any other value.</exception>
    public static CpuParallelism ParseParallelism(string value) => (value?.Trim().ToLowerInvariant() ?? "") switch
    {
        "auto" => CpuParallelism.Auto,
        "intra-op" or "intraop" => CpuParallelism.IntraOp,
        "data-parallel" or "dataparallel" => CpuParallelism.DataParallel,
        _ => throw new InvalidInputException($"Unknown parallelism '{value}'; expected auto, intra-op or data-parallel."),
    };

    /// <summary>Parses "auto", "float32" (also "fp32", "float") or "int8".</summary>
    /// <exception cref="InvalidInputException">Any other value.</exception>
    public static PrecisionMode ParsePrecision(string value) => (value?.Trim().ToLowerInvariant() ?? "") switch
    {
        "auto" => PrecisionMode.Auto,
        "float32" or "fp32" or "float" => PrecisionMode.Float32,
        "int8" => PrecisionMode.Int8,
        _ => throw new InvalidInputException($"Unknown precision '{value}'; expected auto, float32 or int8."),
    };

    /// <summary>Parses "exhaustive", "heuristic" or "default".</summary>
    /// <exception cref="InvalidInputException">Any other value.</exception>
    public static CudnnConvSearch ParseCudnnSearch(string value) => (value?.Trim().ToLowerInvariant() ?? "") switch
    {
        "exhaustive" => CudnnConvSearch.Exhaustive,
        "heuristic" => CudnnConvSearch.Heuristic,
        "default" => CudnnConvSearch.Default,
        _ => throw new InvalidInputException($"Unknown cuDNN search '{value}'; expected exhaustive, heuristic or default."),
    };

    /// <summary>Parses "cpu" or "cuda" (also "cuda:N" for a device id).</summary>
    /// <exception cref="InvalidInputException">Any other value.</exception>
    public static (ExecutionDevice Device, int DeviceId) ParseDevice(string value)
    {
        string v = value?.Trim().ToLowerInvariant() ?? "";
        if (v == "cpu") return (ExecutionDevice.Cpu, 0);
        if (v == "cuda" || v == "gpu") return (ExecutionDevice.Cuda, 0);
        if (v.StartsWith("cuda:", StringComparison.Ordinal) && int.TryParse(v[5..], out int id) && id >= 0) return (ExecutionDevice.Cuda, id);
        throw new InvalidInputException($"Unknown device '{value}'; expected cpu, cuda or cuda:N.");
    }
}

/// <summary>Facts about this machine.</summary>
public static class Hardware
{
    private static readonly Lazy<int> s_physical = new(CountPhysicalCores);

    /// <summary>
    /// Physical cores available to this process: distinct (physical id, core id) pairs of /proc/cpuinfo on Linux,
    /// capped by <see cref="Environment.ProcessorCount"/> (which honours affinity and container limits); the
    /// processor count elsewhere.
    /// </summary>
    public static int PhysicalCores => s_physical.Value;

    private static int CountPhysicalCores()
    {
        int logical = Environment.ProcessorCount;
        try
        {
            if (!OperatingSystem.IsLinux() || !File.Exists("/proc/cpuinfo")) return logical;
            var cores = new HashSet<(string, string)>();
            string phys = "0";
            foreach (var line in File.ReadLines("/proc/cpuinfo"))
            {
                int colon = line.IndexOf(':');
                if (colon < 0) continue;
                string key = line[..colon].Trim(), val = line[(colon + 1)..].Trim();
                if (key == "physical id") phys = val;
                else if (key == "core id") cores.Add((phys, val));
            }
            return cores.Count == 0 ? logical : Math.Clamp(cores.Count, 1, logical);
        }
        catch (IOException) { return logical; }
        catch (UnauthorizedAccessException) { return logical; }
    }
}
