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
