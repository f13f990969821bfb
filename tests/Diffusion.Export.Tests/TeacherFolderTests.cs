using Diffusion.Runtime;
using Diffusion.Train.Config;
using Diffusion.Train.Model;
using Diffusion.Train.Training;
using static Diffusion.Export.Tests.TestModels;

namespace Diffusion.Export.Tests;

/// <summary>A distillation teacher read back from an exported model folder (the release models ship without checkpoints).</summary>
public sealed class TeacherFolderTests : CommandTestBase
{
    private static TrainConfig Config() => SmallConfig("teacher-test");

    [Fact]
    public void An_exported_folder_gives_back_the_checkpoints_EMA_network_exactly()
    {
        var config = Config();
        string ckpt = SaveCheckpoint(config);
        Assert.Equal(0, ExportCli.Run(["export", "--checkpoint", ckpt, "--out", Out, "--no-int8"], Stdout, Stderr));
        using var fromCkpt = TeacherModel.Load(ckpt);
        using var fromFolder = TeacherModel.Load(Out);
        Assert.Equal(config.ToJson(), fromFolder.Config.ToJson());
        var x = Noise(3 * 784, 9);
        long[] t = [0, 500, 999], y = [3, 7, 10];
        Assert.Equal(0f, MaxAbsDiff(Torch(fromCkpt.Network, x, t, y), Torch(fromFolder.Network, x, t, y)));
        // and not the raw weights
        using var raw = Diffusion.Train.Checkpoints.Checkpoint.Load(ckpt);
        Assert.True(MaxAbsDiff(Torch(raw.Model, x, t, y), Torch(fromFolder.Network, x, t, y)) > 1e-3f);
    }

    [Fact]
    public void A_folder_without_a_card_or_with_another_architectures_graph_is_one_clear_error()
    {
        Directory.CreateDirectory(Out);
        var e = Assert.Throws<InvalidInputException>(() => TeacherModel.Load(Out));
        Assert.Contains("expected a checkpoint file or an exported model folder", e.Message);

        var config = Config();
        Assert.Equal(0, ExportCli.Run(["export", "--checkpoint", SaveCheckpoint(config), "--out", Out, "--no-int8"], Stdout, Stderr));
        // the graph of a medium model under a small model's card
        var medium = new TrainConfig { Name = "m", Preset = "medium", Model = UNetConfig.Preset("medium") }.Validate();
        string other = Path.Combine(Dir, "other");
        Assert.Equal(0, ExportCli.Run(["export", "--checkpoint", SaveCheckpoint(medium, folder: "run-m"), "--out", other, "--no-int8"], Stdout, Stderr));
        File.Copy(Path.Combine(other, ModelFolderLayout.Unet), Path.Combine(Out, ModelFolderLayout.Unet), overwrite: true);
        e = Assert.Throws<InvalidInputException>(() => TeacherModel.Load(Out));
        Assert.Contains(ModelFolderLayout.Unet, e.Message);
        Assert.Contains("initializer", e.Message);
    }
}
