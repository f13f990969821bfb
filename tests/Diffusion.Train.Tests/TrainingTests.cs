using Diffusion.Runtime;
using Diffusion.Train.Checkpoints;
using Diffusion.Train.Data;
using Diffusion.Train.Model;
using Diffusion.Train.Training;
using static TorchSharp.torch;

namespace Diffusion.Train.Tests;

public class TrainingTests
{
    /// <summary>Loss of <paramref name="model"/> on a fixed batch with fixed t, eps and label dropout (same draws for every model).</summary>
    private static double FixedLoss(UNet model, DiffusionObjective objective, ImageData data)
    {
        model.eval();
        using var _ = no_grad();
        random.manual_seed(99);
        using var scope = NewDisposeScope();
        var (x0, y) = data.Batch(Enumerable.Range(0, 128).Select(i => (long)i).ToArray(), CPU);
        double total = 0;
        for (int r = 0; r < 4; r++) total += objective.Loss(model.forward, x0, y).item<float>();
        return total / 4;
    }

    [Fact]
    public void TinyRun_LowersTheLoss_AndWritesEveryOutput()
    {
        using var dir = new TempDir();
        var data = TestData.WriteIdx(dir["data"], 320);
        var config = TestData.TinyConfig(data, dir["run"]) with { Epochs = 4, SampleEvery = 2, CheckpointEvery = 2, Model = TestData.TinyModel with { Dropout = 0 } };
        using (var trainer = DiffusionTrainer.Prepare(config, new TrainOptions { Console = ConsoleMode.Silent }))
        {
            var result = trainer.Run();
            Assert.True(result.Completed);
            Assert.Equal(20, result.Step);
            Assert.Equal(4, result.Epochs.Count);
            Assert.True(result.Epochs[^1].Loss < 0.7 * result.Epochs[0].Loss, $"epoch losses: {string.Join(", ", result.Epochs.Select(e => e.Loss.ToString("F4")))}");
        }

        // the trained weights beat the initial ones on the same fixed batch
        using var ckpt = Checkpoint.Load(dir["run/checkpoints/last.ckpt"]);
        using var imageData = ImageData.Load(data, "train", 10);
        using var objective = new DiffusionObjective(config.CreateSchedule(), config.Prediction, 10, 0.1, CPU);
        random.manual_seed(config.Seed);
        using var initial = new UNet(config.Model);
        double before = FixedLoss(initial, objective, imageData), after = FixedLoss(ckpt.Model, objective, imageData), ema = FixedLoss(ckpt.Ema, objective, imageData);
        Assert.True(after < 0.6 * before, $"loss before {before:F4}, after {after:F4}");
        Assert.True(ema < 0.8 * before, $"EMA loss {ema:F4}, before {before:F4}");

        foreach (var f in new[] { "config.json", "log.jsonl", "checkpoints/epoch-0002.ckpt", "checkpoints/epoch-0004.ckpt", "samples/epoch-0002.png", "samples/epoch-0004.png" })
            Assert.True(File.Exists(dir["run/" + f]), f);
        Assert.NotEmpty(Directory.GetFiles(dir["run/tb"], "events.out.tfevents.*"));
        Assert.Equal(4, File.ReadAllLines(dir["run/log.jsonl"]).Length);
        Assert.Equal(File.ReadAllText(dir["run/config.json"]), ckpt.ConfigJson);
        Assert.Equal(20, ckpt.Step);
        Assert.Equal(4, ckpt.Epoch);
    }

    [Fact]
    public void Checkpoint_SaveThenLoad_GivesIdenticalOutputs()
    {
        using var dir = new TempDir();
        var data = TestData.WriteIdx(dir["data"], 128);
        var config = TestData.TinyConfig(data, dir["run"]) with { Epochs = 1 };
        using (var trainer = DiffusionTrainer.Prepare(config, new TrainOptions { Console = ConsoleMode.Silent })) trainer.Run();
        using var a = Checkpoint.Load(dir["run/checkpoints/last.ckpt"]);
        string copy = dir["copy.ckpt"];
        Checkpoint.Save(copy, a.Model, a.Ema, a.OptimizerState, a.ConfigJson, a.SourceCommit, a.Step, a.Epoch, a.Rng);
        using var b = Checkpoint.Load(copy);
        Assert.Equal(File.ReadAllBytes(dir["run/checkpoints/last.ckpt"]), File.ReadAllBytes(copy));
        Assert.Equal(a.ConfigJson, b.ConfigJson);
        Assert.Equal(a.SourceCommit, b.SourceCommit);
        Assert.Equal((a.Step, a.Epoch), (b.Step, b.Epoch));
        Assert.Equal(a.Rng.TorchGenerator, b.Rng.TorchGenerator);
        Assert.Equal(a.OptimizerState, b.OptimizerState);
        Assert.Equal(config.Model.BaseChannels, b.Config.Model.BaseChannels);

        random.manual_seed(11);
        using var x = randn(7, 1, 28, 28);
        using var t = tensor(new long[] { 0, 1, 10, 50, 98, 99, 42 });
        using var y = tensor(new long[] { 0, 3, 9, 10, 10, 5, 1 });
        using var _ = no_grad();
        foreach (var (m1, m2) in new[] { (a.Model, b.Model), (a.Ema, b.Ema) })
        {
            m1.eval(); m2.eval();
            Assert.Equal(m1.forward(x, t, y).data<float>().ToArray(), m2.forward(x, t, y).data<float>().ToArray());
        }
        // EMA and model differ (the EMA lags), so the file really holds two weight sets
        Assert.NotEqual(a.Model.forward(x, t, y).data<float>().ToArray(), a.Ema.forward(x, t, y).data<float>().ToArray());

        var meta = b.ToMetadata(GraphKind.Unet);
        Assert.Equal(100, meta.Timesteps);
        Assert.Equal(b.ConfigSha256, meta.ConfigSha256);
        Assert.Equal(64, meta.ConfigSha256.Length);
    }

    [Theory]
    [InlineData(5)]  // mid-epoch 2 (4 steps per epoch, the last one short)
    [InlineData(4)]  // at the epoch boundary
    public void StopAndResume_EndsWithTheSameWeights_AsAnUninterruptedRun(long stopAt)
    {
        using var dir = new TempDir();
        var data = TestData.WriteIdx(dir["data"], 200);
        var silent = new TrainOptions { Console = ConsoleMode.Silent };

        var full = TestData.TinyConfig(data, dir["full"]) with { Epochs = 2 };
        using (var t = DiffusionTrainer.Prepare(full, silent)) Assert.True(t.Run().Completed);

        var split = TestData.TinyConfig(data, dir["split"]) with { Epochs = 2 };
        using (var t = DiffusionTrainer.Prepare(split, silent with { StopAfterSteps = stopAt }))
        {
            var r = t.Run();
            Assert.False(r.Completed);
            Assert.Equal(stopAt, r.Step);
        }
        using (var t = DiffusionTrainer.Prepare(split, silent with { Resume = true })) Assert.True(t.Run().Completed);

        using var a = Checkpoint.Load(dir["full/checkpoints/last.ckpt"]);
        using var b = Checkpoint.Load(dir["split/checkpoints/last.ckpt"]);
        Assert.Equal(8, b.Step);
        Assert.Equal(a.Step, b.Step);
        Assert.Equal(a.Epoch, b.Epoch);
        foreach (var (m1, m2) in new[] { (a.Model, b.Model), (a.Ema, b.Ema) })
        {
            var p2 = m2.state_dict();
            foreach (var (name, p) in m1.state_dict())
                Assert.True(p.data<float>().ToArray().SequenceEqual(p2[name].data<float>().ToArray()), $"{name} differs after resume");
        }
        Assert.Equal(a.OptimizerState, b.OptimizerState);
        Assert.Equal(a.Rng.TorchGenerator, b.Rng.TorchGenerator);
        Assert.Equal(2, File.ReadAllLines(dir["split/log.jsonl"]).Length);
    }

    [Fact]
    public void Resume_WithChangedTrainingSettings_IsRefused()
    {
        using var dir = new TempDir();
        var data = TestData.WriteIdx(dir["data"], 128);
        var config = TestData.TinyConfig(data, dir["run"]) with { Epochs = 1 };
        using (var t = DiffusionTrainer.Prepare(config, new TrainOptions { Console = ConsoleMode.Silent })) t.Run();
        var e = Assert.Throws<InvalidInputException>(() => DiffusionTrainer.Prepare(config, new TrainOptions { Resume = true, ResumeOverrides = c => c with { Lr = 0.1 } }));
        Assert.Contains("lr", e.Message);
        // starting over without --force is refused too
        e = Assert.Throws<InvalidInputException>(() => DiffusionTrainer.Prepare(config));
        Assert.Contains("--resume", e.Message);
    }
}
