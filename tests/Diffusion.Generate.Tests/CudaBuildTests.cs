using System.Diagnostics;
using Diffusion.Runtime.Onnx;

namespace Diffusion.Runtime.Tests;

/// <summary>
/// The CUDA build (<c>make build-cuda</c>: Microsoft.ML.OnnxRuntime.Gpu) run on a machine without a GPU or without the
/// CUDA libraries: <c>generate --device cuda</c> prints one line naming what is missing and exits 2. On a machine
/// where every CUDA library loads (a GPU machine) there is nothing to refuse, and scripts/gpu-check.sh is the check.
/// </summary>
public class CudaBuildTests
{
    [Fact]
    public async Task CudaBuild_WithoutCudaLibraries_OneLineNamingThem_Exit2()
    {
        var missing = Cuda.MissingLibraries();
        if (missing.Count == 0) return; // a CUDA machine: gpu-check.sh covers it
        string config = AppContext.BaseDirectory.Contains("/Debug/", StringComparison.Ordinal) ? "Debug" : "Release";
        string exe = Path.Combine(TinyModels.RepoRoot(), "artifacts", "cuda", "bin", "Diffusion.Generate.Cli", config, "net10.0", "Diffusion.Generate.Cli");
        Assert.True(File.Exists(exe), $"{exe} not found: run 'make build-cuda' (make test does) first.");

        string outDir = Path.Combine(TinyModels.NewTempDir(), "out");
        var psi = new ProcessStartInfo(exe) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in new[] { "generate", "--quiet", "--model", TinyModels.Folder(), "--device", "cuda", "--out", outDir }) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        string stderr = await p.StandardError.ReadToEndAsync();
        using (var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(2))) await p.WaitForExitAsync(timeout.Token);

        Assert.Equal(2, p.ExitCode);
        var lines = stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.True(lines.Length == 1, $"expected one line on stderr, got:\n{stderr}");
        Assert.StartsWith("error: --device cuda: the CUDA libraries ", lines[0]);
        foreach (var lib in missing) Assert.Contains(lib.File, lines[0]);
        Assert.Contains("Install ", lines[0]);
        Assert.DoesNotContain("   at ", stderr + await stdout);
        Assert.False(Directory.Exists(outDir), "output written despite the error");
    }
}
