namespace Diffusion.Tools;

/// <summary>Whether a process that left a file behind (a lock, a temporary file) is still there.</summary>
internal static class ProcessInfo
{
    /// <summary>True while <paramref name="pid"/> runs (this process included); a reused id counts as running, the safe side.</summary>
    public static bool IsRunning(int pid)
    {
        if (pid == Environment.ProcessId) return true;
        if (OperatingSystem.IsLinux()) return Directory.Exists($"/proc/{pid}");
        try { using var p = System.Diagnostics.Process.GetProcessById(pid); return !p.HasExited; }
        catch (ArgumentException) { return false; }
        catch (InvalidOperationException) { return false; }
    }
}
