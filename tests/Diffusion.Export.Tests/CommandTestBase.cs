using Diffusion.Tools;
using Diffusion.Train.Checkpoints;
using Diffusion.Train.Config;
using Diffusion.Train.Model;
using static Diffusion.Export.Tests.TestModels;

namespace Diffusion.Export.Tests;

/// <summary>A temp folder, captured stdout / stderr and checkpoints with random weights: what the command tests share.</summary>
public abstract class CommandTestBase : IDisposable
{
    /// <summary>The test's temp folder (deleted afterwards).</summary>
    protected string Dir { get; } = Directory.CreateTempSubdirectory("export-cmd").FullName;
    /// <summary>What a command printed.</summary>
    protected StringWriter Stdout { get; } = new();
    /// <summary>What a command printed as errors.</summary>
    protected StringWriter Stderr { get; } = new();
    /// <summary>The export's output folder.</summary>
    protected string Out => Path.Combine(Dir, "out");

    /// <summary>An IDX folder with train and t10k splits of blurred random digits-sized images.</summary>
    protected string IdxData()
    {
        string data = Path.Combine(Dir, "data");
        var rng = new Random(5);
        foreach (var (split, n) in new[] { ("train", 96), ("t10k", 48) })
        {
            var pixels = new byte[n * 784];
            for (int i = 0; i < pixels.Length; i++) pixels[i] = (byte)(rng.NextDouble() < 0.2 ? 255 : 0);
            Idx.Write(Path.Combine(data, $"{split}-images-idx3-ubyte"), [n, 28, 28], pixels);
            Idx.Write(Path.Combine(data, $"{split}-labels-idx1-ubyte"), [n], Enumerable.Range(0, n).Select(i => (byte)(i % 10)).ToArray());
        }
        return data;
    }

    /// <summary>The small preset without dropout under <paramref name="name"/>: a teacher for the distillation tests.</summary>
    protected static TrainConfig SmallConfig(string name) => new TrainConfig { Name = name, Preset = "small", Model = UNetConfig.Preset("small") with { Dropout = 0 } }.Validate();

    /// <summary>Saves a checkpoint of <paramref name="config"/> whose raw and EMA weights differ (random, from <paramref name="seed"/>).</summary>
    /// <param name="config">Training config stored in the checkpoint.</param>
    /// <param name="weightsFor">Architecture of the weights (default: the config's).</param>
    /// <param name="seed">Raw weights' seed; the EMA weights use another.</param>
    /// <param name="folder">Subfolder of <see cref="Dir"/>.</param>
    protected string SaveCheckpoint(TrainConfig config, UNetConfig? weightsFor = null, int seed = 11, string folder = "run")
    {
        using var model = RandomModel(weightsFor ?? config.Model, seed);
        using var ema = RandomModel(weightsFor ?? config.Model, seed + 11);
        string path = Path.Combine(Dir, folder, "checkpoints", "last.ckpt");
        Checkpoint.Save(path, model, ema, null, config.ToJson(), "abc1234", step: 321, epoch: 3, new RngState([1, 2, 3], 7));
        return path;
    }

    /// <inheritdoc/>
    public void Dispose()
    {
        Directory.Delete(Dir, true);
        Stdout.Dispose();
        Stderr.Dispose();
        GC.SuppressFinalize(this);
    }
}
