using System.Runtime.InteropServices;

namespace Diffusion.Eval;

/// <summary>Describes the machine numbers were measured on.</summary>
public static class Machine
{
    /// <summary>"N logical cores, CPU model, OS".</summary>
    public static string Describe()
    {
        string cpu = "unknown CPU";
        try
        {
            var line = File.Exists("/proc/cpuinfo") ? File.ReadLines("/proc/cpuinfo").FirstOrDefault(l => l.StartsWith("model name", StringComparison.Ordinal)) : null;
            if (line is not null) cpu = line[(line.IndexOf(':') + 1)..].Trim();
        }
        catch (IOException) { }
        return $"{Environment.ProcessorCount} logical cores, {cpu}, {RuntimeInformation.OSDescription}";
    }
}
