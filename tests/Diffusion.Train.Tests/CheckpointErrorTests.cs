using Diffusion.Runtime;
using Diffusion.Train.Checkpoints;
using Diffusion.Train.Training;

namespace Diffusion.Train.Tests;

/// <summary>One tiny trained checkpoint shared by the corruption tests.</summary>
public sealed class TrainedCheckpoint : IDisposable
{
    public TempDir Dir { get; } = new();
    public byte[] Bytes { get; }

    public TrainedCheckpoint()
    {
        var data = TestData.WriteIdx(Dir["data"], 64);
        using var t = DiffusionTrainer.Prepare(TestData.TinyConfig(data, Dir["run"]) with { Epochs = 1 }, new TrainOptions { Console = ConsoleMode.Silent });
        t.Run();
        Bytes = File.ReadAllBytes(Dir["run/checkpoints/last.ckpt"]);
    }

    public void Dispose() => Dir.Dispose();
}

public class CheckpointErrorTests(TrainedCheckpoint trained) : IClassFixture<TrainedCheckpoint>
{
    private readonly TempDir _dir = trained.Dir;
    private readonly byte[] _valid = trained.Bytes;

    private InvalidInputException LoadFails(byte[] bytes, string name)
    {
        string path = _dir[name];
        File.WriteAllBytes(path, bytes);
        var e = Assert.Throws<InvalidInputException>(() => Checkpoint.Load(path));
        Assert.Contains(path, e.Message);
        return e;
    }

    [Fact]
    public void MissingFile_NamesIt()
    {
        var e = Assert.Throws<InvalidInputException>(() => Checkpoint.Load(_dir["nope.ckpt"]));
        Assert.Contains("nope.ckpt", e.Message);
        Assert.Contains("not found", e.Message);
    }

    [Fact]
    public void ForeignFile_IsRefusedByMagic()
    {
        Assert.Contains("DDPMCKPT", LoadFails(System.Text.Encoding.UTF8.GetBytes("PK\u0003\u0004 this is a zip, not a checkpoint, padded to be long enough for a header......"), "foreign.ckpt").Message);
        Assert.Contains("magic", LoadFails([], "empty.ckpt").Message);
    }

    [Fact]
    public void Truncated_IsRefused()
    {
        Assert.Contains("truncated", LoadFails(_valid[..(_valid.Length / 2)], "half.ckpt").Message);
        Assert.Contains("magic", LoadFails(_valid[..30], "header.ckpt").Message);
    }

    [Fact]
    public void FlippedByte_IsRefusedByHash()
    {
        var bad = (byte[])_valid.Clone();
        bad[bad.Length - 100] ^= 0x40;
        Assert.Contains("SHA-256", LoadFails(bad, "flipped.ckpt").Message);
    }

    [Fact]
    public void NewerFormatVersion_IsRefused()
    {
        var bad = (byte[])_valid.Clone();
        BitConverter.GetBytes(Checkpoint.FormatVersion + 1).CopyTo(bad, 8);
        Assert.Contains("version", LoadFails(bad, "future.ckpt").Message);
    }
}
