using System.Security.Cryptography;
using System.Text.Json.Nodes;
using Diffusion.Runtime;
using Diffusion.Train.Config;
using Diffusion.Train.Model;
using Diffusion.Tools;

namespace Diffusion.Export.Tests;

/// <summary>The model card's training-run facts come from the run folder and the data files, not from a person.</summary>
public sealed class TrainingRunTests : IDisposable
{
    private readonly string dir = Directory.CreateTempSubdirectory("export-run").FullName;

    public void Dispose() => Directory.Delete(dir, true);

    [Fact]
    public void Reads_the_log_up_to_the_checkpoint_epoch_and_hashes_the_training_files()
    {
        string run = Path.Combine(dir, "run"), data = Path.Combine(dir, "data");
        Directory.CreateDirectory(Path.Combine(run, "checkpoints"));
        File.WriteAllText(Path.Combine(run, "log.jsonl"),
            """
            {"epoch":1,"step":10,"loss":0.5,"lr":0.001,"images_per_s":100,"seconds":60,"cpu_seconds":100}
            {"epoch":2,"step":20,"loss":0.25,"lr":0.0005,"images_per_s":120,"seconds":30,"cpu_seconds":50}
            {"epoch":3,"step":30,"loss":0.2,"lr":0.0001,"images_per_s":120,"seconds":30,"cpu_seconds":50}

            """);
        byte[] images = Idx.Encode([2, 28, 28], new byte[2 * 784]), labels = Idx.Encode([2], [1, 2]);
        Directory.CreateDirectory(data);
        File.WriteAllBytes(Path.Combine(data, "train-images-idx3-ubyte"), images);
        File.WriteAllBytes(Path.Combine(data, "train-labels-idx1-ubyte"), labels);
        var config = new TrainConfig { Name = "r", Data = data, Threads = 1, Model = UNetConfig.Preset("small") };

        var r = TrainingRun.Read(Path.Combine(run, "checkpoints", "epoch-0002.ckpt"), config, epoch: 2);

        Assert.Equal([1, 2], r.Epochs.Select(e => e.Epoch));
        Assert.Equal(90, r.Seconds);
        Assert.Equal(150, r.CpuSeconds);
        Assert.Equal(Convert.ToHexStringLower(SHA256.HashData(images)), r.DataSha256["train-images-idx3-ubyte"]);
        Assert.Equal(Convert.ToHexStringLower(SHA256.HashData(labels)), r.DataSha256["train-labels-idx1-ubyte"]);
        string md = TrainingRun.Markdown(r.ToJson(), "r");
        Assert.Contains("2 epochs in 1.5 min of wall time (2.5 min of CPU)", md);
        Assert.Contains("| 2 | 20 | 0.25000 |", md);
        Assert.Contains("make train ARGS='--config configs/r.json'", md);
    }

    [Fact]
    public void Without_a_log_or_data_the_card_says_so_instead_of_guessing()
    {
        var config = new TrainConfig { Name = "r", Data = Path.Combine(dir, "missing"), Model = UNetConfig.Preset("small") };
        var r = TrainingRun.Read(Path.Combine(dir, "x", "checkpoints", "last.ckpt"), config, epoch: 5);
        Assert.Empty(r.Epochs);
        Assert.Empty(r.DataSha256);
        JsonObject json = r.ToJson();
        Assert.Null(json["final_loss"]);
        Assert.Contains("No training log", TrainingRun.Markdown(json, "r"));
    }
}
