using Diffusion.Runtime;
using Diffusion.Train.Config;
using Diffusion.Train.Model;
using Diffusion.Tools;

// Tests share libtorch's global generator and thread count: run them one at a time.
[assembly: CollectionBehavior(DisableTestParallelization = true)]

namespace Diffusion.Train.Tests;

internal static class TestThreads
{
    /// <summary>
    /// One intra-op thread (and passive OpenMP waits, set before libtorch loads). Test tensors are tiny, and on a
    /// shared, oversubscribed machine every parallel region waits for its second thread to be scheduled: a small
    /// forward pass of batch 7 measured 22 s with 2 threads under load 15 on 2 cores.
    /// </summary>
#pragma warning disable CA2255 // module initializer in a test assembly is intended
    [System.Runtime.CompilerServices.ModuleInitializer]
    internal static void Init()
    {
        Diffusion.Train.Training.TorchSetup.PreferPassiveOpenMpWait();
        Diffusion.Train.Training.TorchSetup.SetThreads(1);
    }
#pragma warning restore CA2255
}

/// <summary>A temporary folder deleted after the test.</summary>
public sealed class TempDir : IDisposable
{
    public string Path { get; } = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "diffusion-train-tests", Guid.NewGuid().ToString("N"));
    public TempDir() => Directory.CreateDirectory(Path);
    public string this[string name] => System.IO.Path.Combine(Path, name);
    public void Dispose() { try { Directory.Delete(Path, recursive: true); } catch (IOException) { } }
}

public static class TestData
{
    /// <summary>
    /// Writes a synthetic MNIST-style training split (28x28, 10 classes) to <paramref name="folder"/>: class k is a
    /// bright bar whose position and orientation depend on k, plus seeded speckle noise. Enough structure to learn.
    /// </summary>
    public static string WriteIdx(string folder, int count, int seed = 1)
    {
        Directory.CreateDirectory(folder);
        var rng = new Random(seed);
        var images = new byte[count * 28 * 28];
        var labels = new byte[count];
        for (int i = 0; i < count; i++)
        {
            int k = i % 10;
            labels[i] = (byte)k;
            var img = images.AsSpan(i * 784, 784);
            for (int p = 0; p < 784; p++) img[p] = (byte)rng.Next(0, 30);
            int pos = 4 + 2 * (k % 5) + rng.Next(0, 2);
            for (int a = 3; a < 25; a++)
                for (int w = 0; w < 3; w++)
                    img[k < 5 ? (pos + w) * 28 + a : a * 28 + pos + w] = (byte)rng.Next(200, 256);
        }
        Idx.Write(System.IO.Path.Combine(folder, "train-images-idx3-ubyte"), [count, 28, 28], images);
        Idx.Write(System.IO.Path.Combine(folder, "train-labels-idx1-ubyte"), [count], labels);
        return folder;
    }

    /// <summary>A tiny U-Net that trains fast on 2 cores.</summary>
    public static UNetConfig TinyModel => new() { BaseChannels = 8, ChannelMults = [1, 2], BlocksPerLevel = 1, Groups = 4, Dropout = 0.1 };

    /// <summary>A small, fast run config writing to <paramref name="outDir"/>.</summary>
    public static TrainConfig TinyConfig(string data, string outDir) => new TrainConfig
    {
        Name = "tiny",
        OutDir = outDir,
        Data = data,
        Preset = null,
        Model = TinyModel,
        Timesteps = 100,
        Epochs = 3,
        BatchSize = 64,
        Lr = 3e-3,
        WarmupSteps = 2,
        EmaDecay = 0.9,
        Seed = 42,
        Threads = 1,
        Device = DeviceKind.Cpu,
        SampleEvery = 0,
        CheckpointEvery = 0,
        SampleSteps = 2,
        SamplesPerClass = 1,
    };
}
