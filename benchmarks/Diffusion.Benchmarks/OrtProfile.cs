using Diffusion.Export;
using System.Globalization;
using System.Text;
using System.Text.Json;
using Diffusion.Onnx;
using Diffusion.Runtime;
using Microsoft.ML.OnnxRuntime;
using ModelMetadata = Diffusion.Runtime.ModelMetadata;

namespace Diffusion.Benchmarks;

/// <summary>Time of one operator type in an ONNX Runtime profile.</summary>
/// <param name="OpType">Operator (after ONNX Runtime's fusions, e.g. FusedConv, QuickGelu).</param>
/// <param name="Calls">Kernel calls over the profiled runs.</param>
/// <param name="Microseconds">Summed kernel time.</param>
public sealed record OpTime(string OpType, int Calls, double Microseconds);

/// <summary>
/// Where ONNX Runtime spends a step: runs a graph with ONNX Runtime's profiler on and sums kernel time per
/// operator type, and lists the operators of the optimized graph (what the fusions produced). A diagnostic for
/// choosing graph changes; its numbers are not part of the benchmark tables.
/// </summary>
public static class OrtProfile
{
    /// <summary>Profiles <paramref name="file"/> at batch <paramref name="batch"/> for <paramref name="runs"/> runs (after 2 warm-up runs).</summary>
    /// <returns>Per-operator kernel times (slowest first) and the optimized graph's operator counts.</returns>
    public static (IReadOnlyList<OpTime> Ops, IReadOnlyDictionary<string, int> OptimizedOps, double WallMsPerRun) Run(
        string file, int batch, int runs, int threads, GraphOptimizationLevel level = GraphOptimizationLevel.ORT_ENABLE_ALL, Action<SessionOptions>? configure = null)
    {
        string dir = Path.Combine(Path.GetTempPath(), $"ort-profile-{Environment.ProcessId}-{Guid.NewGuid():N}");
        Directory.CreateDirectory(dir);
        try
        {
            string optimized = Path.Combine(dir, "optimized.onnx");
            var meta = ModelMetadata.FromProperties(OnnxHelper.Metadata(ExportCommand.LoadOnnx(file)), file);
            var inputs = new StepInputs(meta, batch);
            bool guided = meta.Graph == GraphKind.Guided;
            using var so = new SessionOptions
            {
                IntraOpNumThreads = threads, GraphOptimizationLevel = level, ExecutionMode = ExecutionMode.ORT_SEQUENTIAL,
                OptimizedModelFilePath = optimized, ProfileOutputPathPrefix = Path.Combine(dir, "profile"), EnableProfiling = true,
            };
            configure?.Invoke(so);
            using var session = new InferenceSession(file, so);
            var output = new float[inputs.X.Length];
            var scale = Enumerable.Repeat(StepInputs.Scale, batch).ToArray();
            using var x = OrtValue.CreateTensorValueFromMemory(inputs.X, inputs.Shape);
            using var t = OrtValue.CreateTensorValueFromMemory(inputs.T, [batch]);
            using var y = OrtValue.CreateTensorValueFromMemory(inputs.Y, [batch]);
            using var s = OrtValue.CreateTensorValueFromMemory(scale, [batch]);
            using var o = OrtValue.CreateTensorValueFromMemory(output, inputs.Shape);
            using var binding = session.CreateIoBinding();
            binding.BindInput(UNetSignature.X, x); binding.BindInput(UNetSignature.T, t); binding.BindInput(UNetSignature.Y, y);
            if (guided) binding.BindInput(UNetSignature.Scale, s);
            binding.BindOutput(session.OutputNames[0], o);
            using var ro = new RunOptions();
            for (int i = 0; i < Warmup; i++) session.RunWithBinding(ro, binding);
            var sw = System.Diagnostics.Stopwatch.StartNew();
            for (int i = 0; i < runs; i++) session.RunWithBinding(ro, binding);
            double wall = sw.Elapsed.TotalMilliseconds / runs;
            string profile = session.EndProfiling();
            var ops = Aggregate(File.ReadAllText(profile));
            var counts = ExportCommand.LoadOnnx(optimized).Graph.Node.GroupBy(n => n.OpType).ToDictionary(g => g.Key, g => g.Count(), StringComparer.Ordinal);
            return (ops, counts, wall);
        }
        finally { Directory.Delete(dir, recursive: true); }
    }

    private const int Warmup = 2;

    /// <summary>
    /// Sums the "*_kernel_time" events of an ONNX Runtime profile (Chrome trace JSON) by op_name, skipping the events
    /// of the first <see cref="Warmup"/> runs (the profiler is on from session creation).
    /// </summary>
    public static IReadOnlyList<OpTime> Aggregate(string profileJson)
    {
        var totals = new Dictionary<string, (int Calls, double Us)>(StringComparer.Ordinal);
        using var doc = JsonDocument.Parse(profileJson);
        var runs = doc.RootElement.EnumerateArray()
            .Where(e => e.TryGetProperty("name", out var n) && n.GetString() == "model_run")
            .Select(e => e.GetProperty("ts").GetDouble() + e.GetProperty("dur").GetDouble()).Order().ToList();
        double start = runs.Count > Warmup ? runs[Warmup - 1] : double.NegativeInfinity;
        foreach (var e in doc.RootElement.EnumerateArray())
        {
            if (e.TryGetProperty("ts", out var ts) && ts.GetDouble() < start) continue;
            if (!e.TryGetProperty("cat", out var cat) || cat.GetString() != "Node") continue;
            if (!e.TryGetProperty("name", out var name) || !(name.GetString() ?? "").EndsWith("_kernel_time", StringComparison.Ordinal)) continue;
            string op = e.GetProperty("args").TryGetProperty("op_name", out var o) ? o.GetString() ?? "?" : "?";
            double dur = e.GetProperty("dur").GetDouble();
            var (c, u) = totals.GetValueOrDefault(op);
            totals[op] = (c + 1, u + dur);
        }
        return totals.Select(kv => new OpTime(kv.Key, kv.Value.Calls, kv.Value.Us)).OrderByDescending(x => x.Microseconds).ToList();
    }

    /// <summary>A Markdown table of <paramref name="ops"/> per run.</summary>
    public static string Format(IReadOnlyList<OpTime> ops, int runs, IReadOnlyDictionary<string, int> optimized, double wallMs)
    {
        var inv = CultureInfo.InvariantCulture;
        double total = ops.Sum(o => o.Microseconds);
        var sb = new StringBuilder();
        sb.Append(inv, $"wall {wallMs:F2} ms/run; kernels {total / runs / 1000:F2} ms/run\n\n| op | calls/run | ms/run | share |\n|---|---:|---:|---:|\n");
        foreach (var o in ops)
            sb.Append(inv, $"| {o.OpType} | {o.Calls / runs} | {o.Microseconds / runs / 1000:F3} | {100 * o.Microseconds / total:F1}% |\n");
        sb.Append("\noptimized graph: ").Append(string.Join(", ", optimized.OrderByDescending(kv => kv.Value).Select(kv => $"{kv.Key} x{kv.Value}"))).Append('\n');
        return sb.ToString();
    }
}
