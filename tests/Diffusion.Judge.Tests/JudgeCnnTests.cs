using Diffusion.Runtime;
using TorchSharp;
using static TorchSharp.torch;
using Diffusion.Tools;
using Diffusion.Imaging;

namespace Diffusion.Judge.Tests;

/// <summary>A judge trained briefly on a small MNIST subset, shared by the tests (BatchNorm statistics are then real).</summary>
public sealed class TrainedJudgeFixture : IDisposable
{
    public LabelledImages Test { get; } = LabelledData.Load(Repo.Data("mnist"), DataSplit.Test, 10, 1, 28);
    public JudgeCnn Model { get; }
    public List<JudgeProgress> Progress { get; } = [];

    public TrainedJudgeFixture()
    {
        torch.set_num_threads(Math.Max(1, Environment.ProcessorCount));
        var train = LabelledData.Load(Repo.Data("mnist"), DataSplit.Train, 10, 1, 28);
        var options = new JudgeTrainOptions { Epochs = 2, BatchSize = 64, Limit = 2048, Seed = 3 };
        (Model, _) = JudgeTrainer.Train(options, new JudgeConfig { Channels1 = 8, Channels2 = 16, FeatureDim = 32 }, train, Progress.Add);
    }

    public void Dispose() => Model.Dispose();
}

public class JudgeCnnTests(TrainedJudgeFixture judge) : IClassFixture<TrainedJudgeFixture>
{
    [Theory]
    [InlineData(1)]
    [InlineData(7)]
    public void Outputs_have_the_documented_shapes(int n)
    {
        using var model = new JudgeCnn(new JudgeConfig());
        model.eval();
        using var scope = NewDisposeScope();
        var (logits, features) = model.ForwardWithFeatures(randn(n, 1, 28, 28));
        Assert.Equal([n, 10], logits.shape);
        Assert.Equal([n, 128], features.shape);
        Assert.True(features.min().item<float>() >= 0); // after ReLU
    }

    [Fact]
    public void State_dict_names_follow_the_fields()
    {
        using var model = new JudgeCnn(new JudgeConfig());
        var names = model.state_dict().Keys.ToHashSet();
        foreach (var n in new[] { "conv1.weight", "bn1.weight", "bn1.bias", "bn1.running_mean", "bn1.running_var", "conv4.weight", "bn4.running_var",
                     "penultimate.weight", "penultimate.bias", "head.weight", "head.bias" })
            Assert.Contains(n, names);
        Assert.DoesNotContain("conv1.bias", names); // BatchNorm follows every convolution
        // convolutions (no bias) + BatchNorm weight and bias + penultimate + head
        Assert.Equal(1 * 32 * 9 + 32 * 32 * 9 + 32 * 64 * 9 + 64 * 64 * 9 + 2 * (32 + 32 + 64 + 64) + (3136 * 128 + 128) + (128 * 10 + 10), model.ParameterCount());
    }

    [Fact]
    public void Short_training_lowers_the_loss_and_beats_chance()
    {
        // first step's loss against the mean loss of the last epoch
        var first = judge.Progress.First(p => p.Epoch == 1 && p.Step == 1).Loss;
        var last = judge.Progress.Last().Loss;
        // the last epoch's mean has stayed under 0.7 of the first step's loss locally but reached 0.73 once in CI (thread
        // scheduling changes libtorch's reductions); a trainer that does not learn stays near 1.0 (ln 10 ~ 2.3 throughout)
        Assert.True(last < 0.85 * first, $"loss {first} -> {last}");
        var subset = Subset(judge.Test, 1000);
        var score = JudgeTrainer.Evaluate(judge.Model, subset);
        // 2 epochs on 2,048 images lands between about 65% and 80% depending on thread scheduling (libtorch
        // reductions); 50% is still five times chance, and an untrained or broken network stays near 10%.
        Assert.True(score.Accuracy > 0.5, $"accuracy {score.Accuracy:P2} after 2 epochs on 2048 images (chance 10%)");
        Assert.Equal(1000, score.Count);
    }

    [Fact]
    public void Checkpoint_round_trip_gives_identical_outputs_and_bad_files_are_refused()
    {
        string dir = Repo.TempDir();
        string path = Path.Combine(dir, "judge.ckpt");
        var info = new JudgeInfo { Config = judge.Model.Config, Dataset = "mnist", ClassNames = JudgeDatasets.MnistClasses, TestAccuracy = 0.5 };
        JudgeCheckpoint.Save(path, judge.Model, info);
        using var loaded = JudgeCheckpoint.Load(path);
        Assert.Equal("mnist", loaded.Info.Dataset);
        Assert.Equal(judge.Model.Config, loaded.Model.Config);
        using (var scope = NewDisposeScope())
        using (no_grad())
        {
            var x = Images(judge.Test, 0, 7);
            judge.Model.eval();
            Assert.Equal(judge.Model.forward(x).data<float>().ToArray(), loaded.Model.forward(x).data<float>().ToArray());
        }
        Assert.Empty(Directory.GetFiles(dir, "*.tmp"));

        string junk = Path.Combine(dir, "junk.ckpt");
        File.WriteAllBytes(junk, [1, 2, 3, 4, 5]);
        Assert.Throws<InvalidInputException>(() => JudgeCheckpoint.Load(junk));
        string truncated = Path.Combine(dir, "truncated.ckpt");
        File.WriteAllBytes(truncated, File.ReadAllBytes(path)[..(int)(new FileInfo(path).Length / 2)]);
        Assert.Throws<InvalidInputException>(() => JudgeCheckpoint.Load(truncated));
        Assert.Throws<InvalidInputException>(() => JudgeCheckpoint.Load(Path.Combine(dir, "missing.ckpt")));
    }

    [Fact]
    public void Shift_moves_pixels_and_fills_background()
    {
        var src = new byte[28 * 28];
        src[10 * 28 + 10] = 255;
        var dst = new float[28 * 28];
        JudgeTrainer.Shift(src, 1, 28, 2, -1, dst);
        Assert.Equal(1f, dst[9 * 28 + 12]);
        Assert.Equal(28 * 28 - 1, dst.Count(v => v == -1f));
        JudgeTrainer.Shift(src, 1, 28, 0, 0, dst);
        Assert.Equal(1f, dst[10 * 28 + 10]);
        // colour: every channel plane moves the same way
        var rgb = new byte[3 * 32 * 32];
        for (int c = 0; c < 3; c++) rgb[c * 1024 + 5 * 32 + 6] = (byte)(100 * c + 50);
        var moved = new float[3 * 32 * 32];
        JudgeTrainer.Shift(rgb, 3, 32, -1, 2, moved);
        for (int c = 0; c < 3; c++) Assert.Equal(Pixels.ToModel((byte)(100 * c + 50)), moved[c * 1024 + 7 * 32 + 5]);
        Assert.Equal(3 * 1024 - 3, moved.Count(v => v == -1f));
    }

    [Fact]
    public void Invalid_options_are_refused()
    {
        Assert.Throws<InvalidInputException>(() => new JudgeTrainOptions { Epochs = 0 }.Validate());
        Assert.Throws<InvalidInputException>(() => new JudgeTrainOptions { BatchSize = 0 }.Validate());
        Assert.Throws<InvalidInputException>(() => new JudgeTrainOptions { LearningRate = double.NaN }.Validate());
        Assert.Throws<InvalidInputException>(() => new JudgeConfig { FeatureDim = 0 }.Validate());
        Assert.Throws<InvalidInputException>(() => JudgeDatasets.ClassNames("cifar"));
    }

    internal static Tensor Images(LabelledImages data, int start, int n)
    {
        var px = new float[n * 784];
        Pixels.ToModel(data.Pixels.AsSpan(start * 784, n * 784), px);
        return tensor(px, [n, 1, 28, 28]);
    }

    private static LabelledImages Subset(LabelledImages data, int n)
        => data with { Pixels = data.Pixels[..(n * data.ImageSize)], Labels = data.Labels[..n] };
}

internal static class Repo
{
    private static readonly string Root = Find();

    public static string Data(string name) => Path.Combine(Root, "data", name);

    private static readonly Lazy<string> s_root = new(() =>
    {
        string root = Path.Combine(Path.GetTempPath(), "diffusion-judge-tests", Environment.ProcessId.ToString(System.Globalization.CultureInfo.InvariantCulture));
        AppDomain.CurrentDomain.ProcessExit += (_, _) => { try { Directory.Delete(root, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { } };
        return root;
    });

    /// <summary>A new empty folder under this test process's temp root (deleted when the process exits).</summary>
    public static string TempDir()
    {
        string dir = Path.Combine(s_root.Value, Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(dir);
        return dir;
    }

    private static string Find()
    {
        for (var d = new DirectoryInfo(AppContext.BaseDirectory); d is not null; d = d.Parent)
            if (File.Exists(Path.Combine(d.FullName, "Pipeline.sln"))) return d.FullName;
        throw new InvalidOperationException("Pipeline.sln not found above " + AppContext.BaseDirectory);
    }
}
