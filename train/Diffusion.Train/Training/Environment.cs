using System.Diagnostics;
using Diffusion.Runtime;
using Diffusion.Train.Config;
using static TorchSharp.torch;

namespace Diffusion.Train.Training;

/// <summary>Device selection and thread settings shared by every command that runs TorchSharp.</summary>
public static class TorchSetup
{
    /// <summary>
    /// Makes libtorch's OpenMP threads sleep instead of spin while they wait (<c>OMP_WAIT_POLICY=PASSIVE</c>) unless the
    /// user set the variable. Must run before the first TorchSharp call: libgomp reads it when libtorch loads. On a
    /// machine shared with other processes spinning threads burn the cores they wait for; measured here with the
    /// small preset and 2 threads on a loaded 2-core machine: 1.3 CPU-s per step passive, 5.3 with the default policy.
    /// </summary>
    public static void PreferPassiveOpenMpWait()
    {
        if (!OperatingSystem.IsLinux() && !OperatingSystem.IsMacOS()) return;
        if (Environment.GetEnvironmentVariable("OMP_WAIT_POLICY") is not null) return;
        try { _ = SetEnv("OMP_WAIT_POLICY", "PASSIVE", 0); }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException) { }
    }

    [System.Runtime.InteropServices.DllImport("libc", EntryPoint = "setenv")]
    private static extern int SetEnv([System.Runtime.InteropServices.MarshalAs(System.Runtime.InteropServices.UnmanagedType.LPUTF8Str)] string name,
        [System.Runtime.InteropServices.MarshalAs(System.Runtime.InteropServices.UnmanagedType.LPUTF8Str)] string value, int overwrite);

    /// <summary>
    /// The device for <paramref name="kind"/>: auto is CUDA when libtorch sees a GPU, else the CPU.
    /// </summary>
    /// <exception cref="InvalidInputException">CUDA asked for but not available.</exception>
    public static Device ResolveDevice(DeviceKind kind)
    {
        bool cuda = cuda_is_available();
        return kind switch
        {
            DeviceKind.Cpu => CPU,
            DeviceKind.Auto => cuda ? CUDA : CPU,
            DeviceKind.Cuda when cuda => CUDA,
            _ => throw new InvalidInputException(
                "--device cuda: CUDA is not available. This build uses libtorch-cpu; build with -p:TorchSharpCuda=true " +
                "(TorchSharp-cuda-linux, not served by the registry this project restores from) on a machine with an NVIDIA GPU, or use --device cpu."),
        };
    }

    /// <summary>Sets libtorch's intra-op threads (<paramref name="threads"/> = 0: all cores) and returns the count used.</summary>
    public static int SetThreads(int threads)
    {
        int n = threads > 0 ? threads : Environment.ProcessorCount;
        set_num_threads(n);
        return n;
    }
}

/// <summary>Where the code came from, for checkpoints and model cards.</summary>
public static class SourceInfo
{
    /// <summary><c>git rev-parse HEAD</c> in the current folder, or "unknown" when git or the repository is missing.</summary>
    public static string GitCommit()
    {
        try
        {
            var psi = new ProcessStartInfo("git", "rev-parse HEAD") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
            using var p = Process.Start(psi);
            if (p is null) return "unknown";
            string s = p.StandardOutput.ReadToEnd().Trim();
            p.WaitForExit(10_000);
            return p.ExitCode == 0 && s.Length >= 7 ? s : "unknown";
        }
        catch (Exception e) when (e is System.ComponentModel.Win32Exception or InvalidOperationException or IOException)
        {
            return "unknown";
        }
    }
}
