using System.Runtime.InteropServices;

namespace Diffusion.Tools;

/// <summary>
/// Describes the machine numbers are measured on (model cards, judge cards, eval reports, benchmarks): every stage
/// states its hardware the same way.
/// </summary>
public static class MachineInfo
{
    /// <summary>The CPU model from /proc/cpuinfo (the process architecture where that is not available).</summary>
    public static string CpuModel()
    {
        try
        {
            var line = File.Exists("/proc/cpuinfo") ? File.ReadLines("/proc/cpuinfo").FirstOrDefault(l => l.StartsWith("model name", StringComparison.Ordinal)) : null;
            if (line is not null) return line[(line.IndexOf(':') + 1)..].Trim();
        }
        catch (IOException) { }
        catch (UnauthorizedAccessException) { }
        return RuntimeInformation.ProcessArchitecture.ToString();
    }

    /// <summary>"N logical cores, CPU model, OS".</summary>
    public static string Describe() => $"{Environment.ProcessorCount} logical cores, {CpuModel()}, {RuntimeInformation.OSDescription}";

    /// <summary>/proc/loadavg's 1, 5 and 15 minute averages ("n/a" elsewhere): how busy the machine was around a measurement.</summary>
    public static string LoadAverage()
    {
        try { return string.Join(' ', File.ReadAllText("/proc/loadavg").Split(' ').Take(3)); }
        catch (IOException) { return "n/a"; }
        catch (UnauthorizedAccessException) { return "n/a"; }
    }
}
