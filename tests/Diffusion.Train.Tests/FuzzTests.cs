using System.Security.Cryptography;
using System.Text;
using Diffusion.Runtime;
using Diffusion.Tests.Shared;
using Diffusion.Train.Checkpoints;
using Diffusion.Train.Config;

namespace Diffusion.Train.Tests;

/// <summary>
/// Fuzz tests of the trainer's readers of a user's files (issue 15): 1,000 seeded mutations each of a checkpoint
/// (half of them resealed, with the stored length and SHA-256 fixed, so that they reach the payload parser behind the
/// integrity check) and of a config JSON. Every mutation either loads or fails with
/// <see cref="InvalidInputException"/> naming the file; no other exception escapes.
/// </summary>
public class FuzzTests(TrainedCheckpoint trained) : IClassFixture<TrainedCheckpoint>
{
    private const int Count = 1000;
    private const int Header = 8 + 4 + 8 + 32;

    private static void AssertHeld(List<string> failures, string reader) =>
        Assert.True(failures.Count == 0, $"{failures.Count} mutations of {reader} escaped the project's error:\n" + string.Join("\n", failures.Take(20)));

    // fixes the payload length and hash of a mutated checkpoint (when its header survived)
    private static byte[]? Reseal(byte[] b)
    {
        if (b.Length < Header || !b.AsSpan(0, 8).SequenceEqual(Checkpoint.Magic)) return null;
        var r = (byte[])b.Clone();
        BitConverter.GetBytes((long)(b.Length - Header)).CopyTo(r, 12);
        SHA256.HashData(r.AsSpan(Header)).CopyTo(r, 20);
        return r;
    }

    [Fact]
    public void Checkpoints_load_or_fail_naming_the_file()
    {
        string path = trained.Dir["fuzz.ckpt"];
        var failures = Mutations.Run<InvalidInputException>(Mutations.Of(trained.Bytes, Count, seed: 21, reseal: Reseal), path, p =>
        {
            using var ck = Checkpoint.Load(p);
            Assert.Equal(ck.Config.Model, ck.Ema.Config);
        }, path);
        // other files given as a checkpoint: a config, an IDX file, an empty file, text
        byte[] config = Encoding.UTF8.GetBytes(TestData.TinyConfig("data/x", "runs/x").ToJson());
        string idx = trained.Dir["fuzz-idx"];
        Diffusion.Tools.Idx.Write(idx, [4], [1, 2, 3, 4]);
        foreach (var other in new[] { config, File.ReadAllBytes(idx), [], "DDPMCKPT"u8.ToArray() })
            failures.AddRange(Mutations.Run<InvalidInputException>([new Mutation($"a {other.Length}-byte other file", other)], path, p => Checkpoint.Load(p).Dispose(), path));
        AssertHeld(failures, "checkpoints");
    }

    [Fact]
    public void Config_files_load_or_fail_naming_the_file()
    {
        var config = TestData.TinyConfig("data/x", "runs/x");
        byte[] json = Encoding.UTF8.GetBytes(config.ToJson());
        string path = trained.Dir["fuzz.json"];
        var failures = Mutations.Run<InvalidInputException>(Mutations.Of(json, Count, seed: 22, text: true), path, p => TrainConfig.Load(p).Validate(), path);
        // other files given as a config: a checkpoint, JSON of another kind, an empty file
        foreach (var other in new[] { trained.Bytes, "[1, 2, 3]"u8.ToArray(), "{\"preset\": 7}"u8.ToArray(), [] })
            failures.AddRange(Mutations.Run<InvalidInputException>([new Mutation($"a {other.Length}-byte other file", other)], path, p => TrainConfig.Load(p), path));
        AssertHeld(failures, "config files");
    }
}
