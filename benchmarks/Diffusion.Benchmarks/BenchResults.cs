using System.Globalization;
using System.Text.Json;
using Diffusion.Runtime;

namespace Diffusion.Benchmarks;

/// <summary>One measured case of a BenchmarkDotNet report.</summary>
/// <param name="Type">Benchmark class (e.g. StepBenchmarks).</param>
/// <param name="Method">Benchmark method (e.g. OrtUnet).</param>
/// <param name="Parameters">Parameter values by name, as BenchmarkDotNet prints them.</param>
/// <param name="MedianNs">Median time per operation, ns.</param>
/// <param name="StdDevNs">Standard deviation, ns.</param>
/// <param name="Iterations">Measured iterations.</param>
/// <param name="AllocatedBytes">Managed bytes allocated per operation (MemoryDiagnoser), or null.</param>
public sealed record BenchRow(string Type, string Method, IReadOnlyDictionary<string, string> Parameters, double MedianNs, double StdDevNs,
    int Iterations, long? AllocatedBytes)
{
    /// <summary>Integer parameter <paramref name="name"/>.</summary>
    public int Int(string name) => int.Parse(Parameters[name], CultureInfo.InvariantCulture);
}

/// <summary>BenchmarkDotNet's host description (from the JSON reports).</summary>
/// <param name="Processor">Processor name.</param>
/// <param name="PhysicalCores">Physical cores.</param>
/// <param name="LogicalCores">Logical cores.</param>
/// <param name="Os">Operating system.</param>
/// <param name="Runtime">.NET runtime.</param>
/// <param name="BenchmarkDotNet">BenchmarkDotNet version.</param>
public sealed record HostInfo(string Processor, int PhysicalCores, int LogicalCores, string Os, string Runtime, string BenchmarkDotNet);

/// <summary>Everything a run left in its results folder: BenchmarkDotNet's full JSON reports and run-info.json.</summary>
public sealed class BenchResults
{
    private BenchResults(RunInfo info, IReadOnlyList<BenchRow> rows, HostInfo? host, IReadOnlyList<string> reports)
    {
        Info = info; Rows = rows; Host = host; Reports = reports;
    }

    /// <summary>The run's own description.</summary>
    public RunInfo Info { get; }
    /// <summary>Every measured case.</summary>
    public IReadOnlyList<BenchRow> Rows { get; }
    /// <summary>Host as BenchmarkDotNet saw it (null when no report was read).</summary>
    public HostInfo? Host { get; }
    /// <summary>File names of the GitHub Markdown reports, relative to the results folder.</summary>
    public IReadOnlyList<string> Reports { get; }

    /// <summary>Reads <paramref name="dir"/> (run-info.json and results/*-report-full.json).</summary>
    /// <exception cref="InvalidInputException">No run-info.json, or a report that is not BenchmarkDotNet JSON.</exception>
    public static BenchResults Read(string dir)
    {
        var info = RunInfo.Read(Path.Combine(dir, SuiteRunner.RunInfoFile));
        var rows = new List<BenchRow>();
        HostInfo? host = null;
        string reports = Path.Combine(dir, "results");
        var files = Directory.Exists(reports) ? Directory.GetFiles(reports, "*-report-full.json").Order(StringComparer.Ordinal).ToArray() : [];
        foreach (var file in files)
        {
            try
            {
                using var doc = JsonDocument.Parse(File.ReadAllText(file));
                var root = doc.RootElement;
                if (host is null && root.TryGetProperty("HostEnvironmentInfo", out var h))
                    host = new HostInfo(Str(h, "ProcessorName"), h.GetProperty("PhysicalCoreCount").GetInt32(), h.GetProperty("LogicalCoreCount").GetInt32(),
                        Str(h, "OsVersion"), Str(h, "RuntimeVersion"), Str(h, "BenchmarkDotNetVersion"));
                foreach (var b in root.GetProperty("Benchmarks").EnumerateArray())
                {
                    if (!b.TryGetProperty("Statistics", out var st) || st.ValueKind != JsonValueKind.Object) continue; // failed case
                    long? alloc = b.TryGetProperty("Memory", out var mem) && mem.ValueKind == JsonValueKind.Object
                        ? mem.GetProperty("BytesAllocatedPerOperation").GetInt64() : null;
                    rows.Add(new BenchRow(Str(b, "Type"), Str(b, "Method"), ParseParameters(Str(b, "Parameters")),
                        st.GetProperty("Median").GetDouble(), st.GetProperty("StandardDeviation").GetDouble(), st.GetProperty("N").GetInt32(), alloc));
                }
            }
            catch (Exception e) when (e is JsonException or KeyNotFoundException or InvalidOperationException)
            {
                throw new InvalidInputException($"{file}: not a BenchmarkDotNet full JSON report ({e.Message}).", e);
            }
        }
        var md = Directory.Exists(reports)
            ? Directory.GetFiles(reports, "*-report-github.md").Select(f => Path.Combine("results", Path.GetFileName(f))).Order(StringComparer.Ordinal).ToArray()
            : [];
        return new BenchResults(info, rows, host, md);
    }

    /// <summary>"Batch=1&amp;Threads=2" to a dictionary.</summary>
    public static IReadOnlyDictionary<string, string> ParseParameters(string text)
    {
        var d = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var part in text.Split('&', StringSplitOptions.RemoveEmptyEntries))
        {
            int eq = part.IndexOf('=');
            if (eq > 0) d[part[..eq]] = part[(eq + 1)..];
        }
        return d;
    }

    private static string Str(JsonElement e, string name) => e.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.String ? v.GetString()! : "";

    /// <summary>Rows of <paramref name="type"/> (and <paramref name="method"/> when given).</summary>
    public IEnumerable<BenchRow> Of(string type, string? method = null)
        => Rows.Where(r => r.Type == type && (method is null || r.Method == method));

    /// <summary>The row of <paramref name="type"/>.<paramref name="method"/> whose parameters include all of <paramref name="where"/>, or null.</summary>
    public BenchRow? Find(string type, string method, params (string Name, object Value)[] where)
        => Of(type, method).FirstOrDefault(r => where.All(w => r.Parameters.TryGetValue(w.Name, out var v)
            && v == Convert.ToString(w.Value, CultureInfo.InvariantCulture)));
}
