using Diffusion.Eval.Judges;
using Diffusion.Eval.Metrics;
using Diffusion.Onnx;
using Diffusion.Runtime;
using Diffusion.Tools;

namespace Diffusion.Eval.Tests;

/// <summary>Judges built once from the tiny template judge on crafted data (shared by the tests that need a judge folder).</summary>
public sealed class JudgeFolderFixture
{
    public string Data { get; } = Tiny.DataFolder();
    public string Folder { get; } = Tiny.TempDir();
    public JudgeCard Card { get; }

    public JudgeFolderFixture()
    {
        string onnx = Path.Combine(Tiny.TempDir(), "judge.onnx");
        OnnxHelper.Save(Tiny.Judge(), onnx);
        Card = JudgeBuilder.Build(new JudgeBuildOptions
        {
            Onnx = onnx, OutDir = Folder, Data = Data, LightGbm = new LightGbmOptions { Iterations = 20, MinExamplesPerLeaf = 5 }, Command = "(test)",
        });
    }
}

public class OnnxJudgeTests
{
    private static string TinyJudgeFile()
    {
        string path = Path.Combine(Tiny.TempDir(), "judge.onnx");
        OnnxHelper.Save(Tiny.Judge(), path);
        return path;
    }

    [Fact]
    public void MlNet_pipeline_scores_the_tiny_judge_and_reloads_from_its_zip()
    {
        var images = Tiny.Images(3, 0.2, seed: 5);
        using var judge = OnnxCnnJudge.FromOnnx(TinyJudgeFile());
        Assert.Equal(Tiny.K, judge.NumClasses);
        Assert.Equal(Tiny.Features, judge.FeatureDim);
        var s = judge.Score(images);
        Assert.Equal(images.Labels, s.Predicted());
        for (int i = 0; i < s.Count; i++)
        {
            Assert.Equal(1.0, s.Row(i).ToArray().Sum(), 5);
            var expected = Tiny.JudgeFeatures(images.Image(i));
            for (int j = 0; j < Tiny.Features; j++) Assert.Equal(expected[j], s.FeatureRow(i)[j], 4);
        }

        string zip = Path.Combine(Tiny.TempDir(), "judge.mlnet.zip");
        judge.Save(zip);
        using var reloaded = OnnxCnnJudge.Load(zip);
        var s2 = reloaded.Score(images);
        Assert.Equal(s.Probabilities, s2.Probabilities);
        Assert.Equal(s.Features, s2.Features);
    }

    [Fact]
    public void Judge_confused_by_swapped_templates_is_measured_as_wrong()
    {
        // A judge whose class 0 looks at block 1 and class 1 at block 0: images of 0 and 1 are judged as each other.
        int[] swap = [1, 0, 2, 3, 4, 5, 6, 7, 8, 9];
        string path = Path.Combine(Tiny.TempDir(), "judge.onnx");
        OnnxHelper.Save(Tiny.Judge(classOfBlock: swap), path);
        using var judge = OnnxCnnJudge.FromOnnx(path);
        var images = Tiny.Images(2, 0.1, seed: 6);
        var m = ClassificationMetrics.Compute(images.Labels, judge.Score(images).Probabilities, Tiny.K);
        Assert.Equal(0.8, m.Accuracy, 12);
        Assert.Equal(2, m.Confusion[0][1]);
        Assert.Equal(2, m.Confusion[1][0]);
    }

    [Fact]
    public void Wrong_files_are_rejected_with_invalid_input()
    {
        string dir = Tiny.TempDir();
        string junk = Path.Combine(dir, "junk.onnx");
        File.WriteAllText(junk, "not a model");
        Assert.Throws<InvalidInputException>(() => OnnxCnnJudge.FromOnnx(junk));
        Assert.Throws<InvalidInputException>(() => OnnxCnnJudge.FromOnnx(Path.Combine(dir, "missing.onnx")));
        string unet = Path.Combine(dir, "unet.onnx");
        OnnxHelper.Save(Tiny.Diffusion(GraphKind.Unet, PredictionType.Epsilon), unet);
        var e = Assert.Throws<InvalidInputException>(() => OnnxCnnJudge.FromOnnx(unet));
        Assert.Contains(unet, e.Message);
        Assert.Throws<InvalidInputException>(() => JudgeBuilder.ReadMetadata(unet)); // no judge.* metadata
        Assert.Throws<InvalidInputException>(() => OnnxCnnJudge.Load(junk));
    }
}

public class LightGbmJudgeTests
{
    [Fact]
    public void Trains_on_a_small_mnist_subset_and_beats_chance_by_far()
    {
        string data = Path.Combine(Repo.Root, "data", "mnist");
        var train = ImageSet.FromIdx(IdxDataset.LoadSplit(data, "train"), 1000);
        var test = ImageSet.FromIdx(IdxDataset.LoadSplit(data, "t10k"), 1000);
        using var judge = LightGbmJudge.Train(train, 10, new LightGbmOptions { Iterations = 30 });
        var scores = judge.Score(test);
        var m = ClassificationMetrics.Compute(test.Labels, scores.Probabilities, 10);
        Assert.True(m.Accuracy > 0.8, $"LightGBM accuracy {m.Accuracy:P2} on 1000 test images; chance is 10%");
        for (int i = 0; i < 20; i++) Assert.Equal(1.0, scores.Row(i).ToArray().Sum(), 4);

        string zip = Path.Combine(Tiny.TempDir(), "lgbm.zip");
        judge.Save(zip);
        using var reloaded = LightGbmJudge.Load(zip);
        Assert.Equal(scores.Probabilities, reloaded.Score(test).Probabilities);
    }

    [Fact]
    public void Refuses_training_data_missing_a_class()
    {
        var images = Tiny.Images(3, 0.1, seed: 1, labelOf: k => k == 9 ? 8 : k);
        Assert.Throws<InvalidInputException>(() => LightGbmJudge.Train(images, 10, new LightGbmOptions { Iterations = 2 }));
    }
}

public class JudgeBuilderTests(JudgeFolderFixture judges) : IClassFixture<JudgeFolderFixture>
{
    [Fact]
    public void Builds_measures_and_describes_both_judges()
    {
        var card = judges.Card;
        Assert.Equal("tiny", card.Dataset);
        Assert.Equal(1.0, card.CnnTest!.Accuracy);
        Assert.True(card.LightGbmTest!.Accuracy > 0.9, $"LightGBM {card.LightGbmTest.Accuracy:P2} on crafted blocks");
        Assert.Equal(Tiny.K * 40, card.LightGbmTrainCount);
        foreach (var f in new[] { "judge.json", "judge-card.md", "judge.onnx", "judge.mlnet.zip", "judge-lightgbm.zip" })
            Assert.True(File.Exists(Path.Combine(judges.Folder, f)), f);
        string md = File.ReadAllText(Path.Combine(judges.Folder, "judge-card.md"));
        Assert.Contains("100.00 %", md);

        using var set = JudgeSet.Load(judges.Folder, requireLightGbm: true);
        Assert.NotNull(set.LightGbm);
        Assert.Equal(Tiny.Features, set.Cnn.FeatureDim);
    }

    [Fact]
    public void Keep_lightgbm_remeasures_the_existing_judge_without_training()
    {
        string copy = Tiny.TempDir();
        foreach (var f in Directory.GetFiles(judges.Folder)) File.Copy(f, Path.Combine(copy, Path.GetFileName(f)));
        var card = JudgeBuilder.Build(new JudgeBuildOptions
        {
            Onnx = Path.Combine(copy, "judge.onnx"), OutDir = copy, Data = judges.Data, KeepLightGbm = true,
            LightGbm = new LightGbmOptions { Iterations = 1 }, Command = "(test)",
        });
        Assert.Equal(judges.Card.LightGbm!.Sha256, card.LightGbm!.Sha256);
        Assert.Equal(judges.Card.LightGbmTest!.Accuracy, card.LightGbmTest!.Accuracy);
        Assert.Equal(20, card.LightGbmOptions!.Iterations); // the kept judge's settings, not the ignored new ones
        File.AppendAllText(Path.Combine(copy, "judge-lightgbm.zip"), "x");
        Assert.Throws<InvalidInputException>(() => JudgeBuilder.Build(new JudgeBuildOptions
        {
            Onnx = Path.Combine(copy, "judge.onnx"), OutDir = copy, Data = judges.Data, KeepLightGbm = true,
        }));
    }

    [Fact]
    public void A_tampered_judge_file_is_refused()
    {
        string copy = Tiny.TempDir();
        foreach (var f in Directory.GetFiles(judges.Folder)) File.Copy(f, Path.Combine(copy, Path.GetFileName(f)));
        File.AppendAllText(Path.Combine(copy, "judge-lightgbm.zip"), "x");
        var e = Assert.Throws<InvalidInputException>(() => JudgeSet.Load(copy));
        Assert.Contains("SHA-256", e.Message);
    }

    [Fact]
    public void Foreign_model_is_refused()
    {
        using var set = JudgeSet.Load(judges.Folder);
        var e = Assert.Throws<InvalidInputException>(() => set.CheckModel(Tiny.Meta(GraphKind.Unet, PredictionType.Epsilon, "fashion-mnist"), "m"));
        Assert.Contains("fashion-mnist", e.Message);
    }
}

internal static class Repo
{
    /// <summary>The repository root (the folder holding Pipeline.sln), found upwards from the test binaries.</summary>
    public static string Root { get; } = Find();

    private static string Find()
    {
        for (var d = new DirectoryInfo(AppContext.BaseDirectory); d is not null; d = d.Parent)
            if (File.Exists(Path.Combine(d.FullName, "Pipeline.sln"))) return d.FullName;
        throw new InvalidOperationException("Pipeline.sln not found above " + AppContext.BaseDirectory);
    }
}
