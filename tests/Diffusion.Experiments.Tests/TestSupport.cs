using System.Runtime.CompilerServices;
using Diffusion.Runtime;
using Diffusion.Tools;

// Tests share libtorch's global generator and thread count: run them one at a time.
[assembly: CollectionBehavior(DisableTestParallelization = true)]

namespace Diffusion.Experiments.Tests;

internal static class TestInit
{
    /// <summary>Before libtorch loads: OpenMP threads sleep while waiting, one intra-op thread (the machine is shared).</summary>
#pragma warning disable CA2255 // module initializer in a test assembly is intended
    [ModuleInitializer]
    internal static void Init()
    {
        Train.Training.TorchSetup.PreferPassiveOpenMpWait();
        Train.Training.TorchSetup.SetThreads(1);
    }
#pragma warning restore CA2255
}

/// <summary>A temporary folder deleted after the test.</summary>
public sealed class TempDir : IDisposable
{
    public string Path { get; } = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "diffusion-experiments-tests", Guid.NewGuid().ToString("N"));
    public TempDir() => Directory.CreateDirectory(Path);
    public string this[string name] => System.IO.Path.Combine(Path, name);
    public void Dispose() { try { Directory.Delete(Path, recursive: true); } catch (IOException) { } }
}

internal static class Repo
{
    /// <summary>The repository root (the folder holding Pipeline.sln), found upwards from the test binaries.</summary>
    public static string Root { get; } = Find();

    public static string File(params string[] parts) => System.IO.Path.Combine([Root, .. parts]);

    private static string Find()
    {
        for (var d = new DirectoryInfo(AppContext.BaseDirectory); d is not null; d = d.Parent)
            if (System.IO.File.Exists(System.IO.Path.Combine(d.FullName, "Pipeline.sln"))) return d.FullName;
        throw new InvalidOperationException("Pipeline.sln not found above " + AppContext.BaseDirectory);
    }

    /// <summary>Writes the first <paramref name="train"/> training and <paramref name="test"/> test images of data/mnist to <paramref name="folder"/>.</summary>
    public static string MnistSubset(string folder, int train, int test)
    {
        Directory.CreateDirectory(folder);
        foreach (var (split, n) in new[] { ("train", train), ("t10k", test) })
        {
            var data = IdxDataset.LoadSplit(File("data", "mnist"), split);
            Idx.Write(System.IO.Path.Combine(folder, $"{split}-images-idx3-ubyte"), [n, data.Height, data.Width], data.Images.Data.AsSpan(0, n * data.Height * data.Width));
            Idx.Write(System.IO.Path.Combine(folder, $"{split}-labels-idx1-ubyte"), [n], data.Labels.Data.AsSpan(0, n));
        }
        return folder;
    }
}
