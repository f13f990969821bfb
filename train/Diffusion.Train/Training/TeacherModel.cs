using Diffusion.Onnx;
using Diffusion.Onnx.Torch;
using Diffusion.Runtime;
using Diffusion.Train.Checkpoints;
using Diffusion.Train.Config;
using Diffusion.Train.Model;
using Diffusion.Tools;

namespace Diffusion.Train.Training;

/// <summary>
/// The teacher of a distillation: a checkpoint's EMA weights, or an exported model folder (its float32
/// <c>unet.onnx</c> and the training config in its card: the release models ship without checkpoints).
/// </summary>
public sealed class TeacherModel : IDisposable
{
    private readonly Checkpoint? _checkpoint;

    private TeacherModel(TrainConfig config, UNet network, Checkpoint? checkpoint)
    {
        Config = config; Network = network; _checkpoint = checkpoint;
    }

    /// <summary>The teacher's training config.</summary>
    public TrainConfig Config { get; }
    /// <summary>The teaching weights (a checkpoint's EMA), in eval mode.</summary>
    public UNet Network { get; }
    /// <summary>SHA-256 of what was loaded: the checkpoint file, or the model folder's float32 unet.onnx.</summary>
    public string Sha256 { get; private init; } = "";

    /// <summary>Loads a checkpoint file or a model folder.</summary>
    /// <exception cref="InvalidInputException">Missing, corrupt or not a U-Net the config describes; the message names the file.</exception>
    public static TeacherModel Load(string path)
    {
        if (!Directory.Exists(path))
        {
            var ck = Checkpoint.Load(path);
            ck.Ema.eval();
            return new TeacherModel(ck.Config, ck.Ema, ck) { Sha256 = ck.FileSha256 };
        }
        string card = ModelCard.JsonPath(path), graph = Path.Combine(path, ModelFolderLayout.Unet);
        if (!File.Exists(card) || !File.Exists(graph))
            throw new InvalidInputException($"Teacher {path} is a folder without {ModelFolderLayout.CardJson} and {ModelFolderLayout.Unet}; expected a checkpoint file or an exported model folder.");
        var node = ModelCard.ReadJson(path)[ModelCard.ConfigKey]
            ?? throw new InvalidInputException($"{card}: no '{ModelCard.ConfigKey}'; expected a card written by export from a checkpoint.");
        var config = TrainConfig.Parse(node.ToJsonString(), card).Validate();
        var network = new UNet(config.Model);
        try
        {
            TorchTensors.LoadWeights(network, OnnxHelper.Load(graph), graph);
        }
        catch (OnnxFormatException e)
        {
            network.Dispose();
            throw new InvalidInputException(e.Message, e);
        }
        network.eval();
        return new TeacherModel(config, network, null) { Sha256 = Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(File.ReadAllBytes(graph))) };
    }

    /// <inheritdoc/>
    public void Dispose()
    {
        if (_checkpoint is not null) _checkpoint.Dispose();
        else Network.Dispose();
    }
}
